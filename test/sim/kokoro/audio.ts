import type { KokoroAudioFormat } from '../../../src-engine/contracts/ai.ts';

/** Kokoro's output: 24 kHz, mono, 16-bit. */
export const SAMPLE_RATE = 24_000;

/** A quiet 440 Hz tone as 16-bit little-endian samples. */
export function tone(seconds: number): Buffer {
  const samples = Math.max(1, Math.round(seconds * SAMPLE_RATE));
  const pcm = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i += 1) {
    pcm.writeInt16LE(Math.round(2_000 * Math.sin((2 * Math.PI * 440 * i) / SAMPLE_RATE)), i * 2);
  }
  return pcm;
}

/** A playable WAV file: the 44-byte RIFF/WAVE header (PCM, mono, 16-bit) then the samples. */
export function wav(pcm: Buffer): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + pcm.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // channels
  header.writeUInt32LE(SAMPLE_RATE, 24);
  header.writeUInt32LE(SAMPLE_RATE * 2, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([header, pcm]);
}

// Compressed formats are not encoded: the bytes start with each format's real signature, so a
// reader can tell them apart, and carry the samples as filler.
const SIGNATURES: Record<Exclude<KokoroAudioFormat, 'wav' | 'pcm'>, Buffer> = {
  mp3: Buffer.from([0x49, 0x44, 0x33, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xfb, 0x90, 0x64]), // ID3v2.4, MPEG-1 L3 frame
  opus: Buffer.concat([Buffer.from('OggS', 'ascii'), Buffer.alloc(24), Buffer.from('OpusHead', 'ascii')]),
  aac: Buffer.from([0xff, 0xf1, 0x50, 0x80, 0x00, 0x1f, 0xfc]), // ADTS
  flac: Buffer.from('fLaC', 'ascii'),
};

export function encode(format: KokoroAudioFormat, pcm: Buffer): Buffer {
  if (format === 'wav') return wav(pcm);
  if (format === 'pcm') return pcm;
  return Buffer.concat([SIGNATURES[format], pcm]);
}
