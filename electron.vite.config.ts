import { cpSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import type { Plugin } from 'vite';

// The engine's SQL migrations are read from disk at start-up; ship them beside the main bundle.
const copyMigrations = {
  name: 'agencia-copy-migrations',
  closeBundle() {
    cpSync(resolve('src-engine/db/migrations'), resolve('out/main/migrations'), { recursive: true });
  },
};

// Vite's dev server injects CSS as <style> tags and talks to its HMR socket: the dev page (only)
// needs those allowed. The built page keeps index.html's strict policy untouched.
const devCsp: Plugin = {
  name: 'agencia-dev-csp',
  apply: 'serve',
  transformIndexHtml: (html) =>
    html
      .replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
      .replace("connect-src 'self'", "connect-src 'self' ws://localhost:* http://localhost:*"),
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
    plugins: [devCsp],
    build: {
      outDir: 'out/renderer',
      // electron-vite leaves bundles unminified; the UI also goes over HTTP (`start --ui`).
      minify: true,
      rollupOptions: { input: resolve('src-renderer/index.html') },
    },
  },
});
