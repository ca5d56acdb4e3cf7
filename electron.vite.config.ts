import { cpSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';

// The engine's SQL migrations are read from disk at start-up; ship them beside the main bundle.
const copyMigrations = {
  name: 'agencia-copy-migrations',
  closeBundle() {
    cpSync(resolve('src-engine/db/migrations'), resolve('out/main/migrations'), { recursive: true });
  },
};

export default defineConfig({
  main: {
    build: { outDir: 'out/main', lib: { entry: resolve('src-main/index.ts') } },
    plugins: [copyMigrations],
  },
  preload: {
    // Sandboxed preloads are CommonJS and cannot require() node_modules: one self-contained .cjs file.
    build: {
      outDir: 'out/preload',
      externalizeDeps: false,
      lib: { entry: resolve('src-main/preload/index.ts'), formats: ['cjs'], fileName: () => 'index.cjs' },
    },
  },
  renderer: {
    root: 'src-renderer',
    build: { outDir: 'out/renderer', rollupOptions: { input: resolve('src-renderer/index.html') } },
  },
});
