import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// electron-builder's schema (app-builder-lib/scheme.json) is not a dependency here, so its key
// names are checked by hand. Copied from app-builder-lib 26.17.0; both objects are closed
// (additionalProperties: false), so an unknown key fails the build.
const words = (list: string) => new Set(list.trim().split(/\s+/));
const CONFIGURATION_KEYS = words(`
  $schema afterAllArtifactBuild afterExtract afterPack afterSign allowMissingDependencies apk appId
  appImage appx appxManifestCreated artifactBuildCompleted artifactBuildStarted artifactName asar
  asarUnpack beforeBuild beforePack buildDependenciesFromSource buildNumber buildVersion compression
  concurrency copyright cscKeyPassword cscLink deb defaultArch detectUpdateChannel directories
  disableAsarIntegrity disableDefaultIgnoredFiles disableSanityCheckAsar dmg downloadAlternateFFmpeg
  electronBranding electronCompile electronDist electronDownload electronFuses electronLanguages
  electronUpdaterCompatibility electronVersion executableName extends extraFiles extraMetadata
  extraResources fileAssociations files flatpak forceCodeSigning framework freebsd
  generateUpdatesFilesForAllChannels icon includePdb launchUiVersion linux mac mas masDev msi
  msiProjectCreated msiWrapped nativeRebuilder nodeGypRebuild nodeVersion npmArgs npmRebuild nsis nsisWeb
  onNodeModuleFile p5p pacman pkg portable productName protocols publish releaseInfo removePackageKeywords
  removePackageScripts rpm snap snapcraft squirrelWindows target toolsets win
`);
const FUSE_KEYS = words(`
  enableCookieEncryption enableEmbeddedAsarIntegrityValidation enableNodeCliInspectArguments
  enableNodeOptionsEnvironmentVariable grantFileProtocolExtraPrivileges
  loadBrowserProcessSpecificV8Snapshot onlyLoadAppFromAsar resetAdHocDarwinSignature runAsNode
`);

interface PlatformConfig {
  target?: string | string[];
  category?: string;
  icon?: string;
  hardenedRuntime?: boolean;
}
interface BuilderConfig {
  appId?: string;
  productName?: string;
  directories?: { output?: string; buildResources?: string };
  files?: string[];
  asar?: boolean;
  linux?: PlatformConfig;
  win?: PlatformConfig;
  mac?: PlatformConfig;
  publish?: { provider?: string; url?: string };
  electronFuses?: Record<string, boolean>;
}

const config = parse(readFileSync(join(root, 'electron-builder.yml'), 'utf8')) as BuilderConfig;

/** Width, height and raw RGBA rows of a non-interlaced 8-bit RGBA PNG (the kind make-icons writes). */
function readPng(file: string): { width: number; height: number; pixels: Buffer } {
  const buf = readFileSync(file);
  expect(buf.subarray(0, 8).toString('hex'), file).toBe('89504e470d0a1a0a');
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < buf.length;) {
    const len = buf.readUInt32BE(at);
    const type = buf.toString('ascii', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([...data.subarray(8, 13)], `${file}: 8-bit RGBA, not interlaced`).toEqual([8, 6, 0, 0, 0]);
    }
    if (type === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  return { width, height, pixels: inflateSync(Buffer.concat(idat)) };
}

describe('electron-builder.yml', () => {
  it('uses only keys electron-builder knows', () => {
    expect(Object.keys(config).filter((k) => !CONFIGURATION_KEYS.has(k))).toEqual([]);
    expect(Object.keys(config.electronFuses ?? {}).filter((k) => !FUSE_KEYS.has(k))).toEqual([]);
  });

  it('identifies and lays out the app', () => {
    expect(config.appId).toBe('com.agenciadesk.app');
    expect(config.productName).toBe('Agencia Desk');
    expect(config.directories).toEqual({ output: 'dist', buildResources: 'resources' });
    expect(config.files).toEqual(['out/**', 'package.json']);
    expect(config.asar).toBe(true);
  });

  it('targets AppImage + deb, NSIS and a hardened dmg', () => {
    expect(config.linux).toMatchObject({ target: ['AppImage', 'deb'], category: 'Office' });
    expect(config.win).toMatchObject({ target: 'nsis' });
    expect(config.mac).toMatchObject({
      target: 'dmg',
      category: 'public.app-category.business',
      hardenedRuntime: true,
    });
  });

  it('publishes updates to the generic server named at build time', () => {
    expect(config.publish).toEqual({ provider: 'generic', url: '${env.AGENCIA_UPDATE_URL}' });
  });

  it('flips the security fuses', () => {
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      enableCookieEncryption: true,
    });
  });

  // macOS needs at least 512x512 to make an .icns; Windows at least 256x256.
  it.each(['linux', 'win', 'mac'] as const)('gives %s a square PNG icon of at least 512px', (platform) => {
    const icon = config[platform]?.icon;
    expect(icon, `${platform}.icon`).toMatch(new RegExp(`^${config.directories!.buildResources}/.+\\.png$`));
    const { width, height } = readPng(join(root, icon!));
    expect(width).toBe(height);
    expect(width).toBeGreaterThanOrEqual(512);
  });
});

describe('resources/', () => {
  const regenerated = mkdtempSync(join(tmpdir(), 'agencia-icons-'));
  afterAll(() => rmSync(regenerated, { recursive: true, force: true }));

  it.each(['tray-green.png', 'tray-yellow.png', 'tray-red.png'])('has a 32x32 %s', (name) => {
    const { width, height } = readPng(join(root, 'resources', name));
    expect([width, height]).toEqual([32, 32]);
  });

  it('holds exactly what make-icons.mjs draws', () => {
    execFileSync(process.execPath, [join(root, 'resources/make-icons.mjs'), regenerated]);
    for (const name of ['icon.png', 'tray-green.png', 'tray-yellow.png', 'tray-red.png']) {
      expect(existsSync(join(regenerated, name)), name).toBe(true);
      // Pixels, not bytes: another zlib build may compress the same image differently.
      expect(readPng(join(root, 'resources', name)), name).toEqual(readPng(join(regenerated, name)));
    }
  });
});
