// Draws the app icon and the tray lights as PNGs with nothing but Node.
//   node resources/make-icons.mjs [outDir]   (default: this folder)
// Shapes are signed distance fields, so edges are anti-aliased without supersampling.
import { Buffer } from 'node:buffer';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';

const outDir = process.argv[2] ?? dirname(fileURLToPath(import.meta.url));

/** Coverage of a pixel whose centre is `d` pixels outside a shape (negative: inside). */
const cover = (d) => Math.min(1, Math.max(0, 0.5 - d));

function roundedRect(px, py, cx, cy, half, r) {
  const qx = Math.abs(px - cx) - (half - r);
  const qy = Math.abs(py - cy) - (half - r);
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r;
}

function capsule(px, py, ax, ay, bx, by, halfWidth) {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.min(1, Math.max(0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy)) - halfWidth;
}

const hex = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
const mix = (a, b, t) => a.map((v, i) => v + (b[i] - v) * t);

function image(size, shade) {
  const rgba = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const [r, g, b, a] = shade(x + 0.5, y + 0.5);
      rgba.set(
        [r, g, b, a].map((v) => Math.round(v)),
        (y * size + x) * 4,
      );
    }
  }
  return { size, rgba };
}

function png({ size, rgba }) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
  const rows = Buffer.alloc(size * (size * 4 + 1)); // each row: filter byte 0, then pixels
  for (let y = 0; y < size; y++) rgba.copy(rows, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// App icon: a white "A" on a teal rounded square, drawn on a 512 grid.
function appIcon() {
  const top = hex('#14b8a6');
  const bottom = hex('#0f766e');
  const white = [255, 255, 255];
  const w = 28; // half the stroke width
  const legAt = (x0, y) => 256 + ((x0 - 256) * (y - 104)) / (408 - 104); // leg x at height y
  return image(512, (x, y) => {
    const inRect = cover(roundedRect(x, y, 256, 256, 240, 104));
    const inA = cover(
      Math.min(
        capsule(x, y, 256, 104, 136, 408, w),
        capsule(x, y, 256, 104, 376, 408, w),
        capsule(x, y, legAt(136, 300), 300, legAt(376, 300), 300, w),
      ),
    );
    return [...mix(mix(top, bottom, y / 512), white, inA), 255 * inRect];
  });
}

// Tray lights: a filled disc with a darker rim so it reads on light and dark panels.
function trayLight(fill, rim) {
  return image(32, (x, y) => {
    const d = Math.hypot(x - 16, y - 16);
    return [...mix(hex(rim), hex(fill), cover(d - 11.5)), 255 * cover(d - 13)];
  });
}

const icons = {
  'icon.png': appIcon(),
  'tray-green.png': trayLight('#22c55e', '#15803d'),
  'tray-yellow.png': trayLight('#eab308', '#a16207'),
  'tray-red.png': trayLight('#ef4444', '#b91c1c'),
};

mkdirSync(outDir, { recursive: true });
for (const [name, img] of Object.entries(icons)) writeFileSync(join(outDir, name), png(img));
