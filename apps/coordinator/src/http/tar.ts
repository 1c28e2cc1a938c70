/** A minimal ustar writer: regular files only, enough to hand a small folder (a PEFT adapter) over HTTP. */

function field(buf: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > length) throw new Error(`tar: "${text}" longer than ${length} bytes`);
  buf.set(bytes, offset);
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

export interface TarEntry {
  /** Path inside the archive (≤ 100 bytes, "/" separated). */
  readonly path: string;
  readonly data: Uint8Array;
}

export function tarArchive(entries: readonly TarEntry[], mtimeSeconds = Math.floor(Date.now() / 1000)): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const e of entries) {
    const h = new Uint8Array(512);
    field(h, 0, 100, e.path);
    field(h, 100, 8, octal(0o644, 8));
    field(h, 108, 8, octal(0, 8));
    field(h, 116, 8, octal(0, 8));
    field(h, 124, 12, octal(e.data.byteLength, 12));
    field(h, 136, 12, octal(mtimeSeconds, 12));
    field(h, 148, 8, '        ');
    h[156] = 0x30; // '0': regular file
    field(h, 257, 6, 'ustar\0');
    field(h, 263, 2, '00');
    const sum = h.reduce((a, b) => a + b, 0);
    field(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(h, e.data);
    const pad = (512 - (e.data.byteLength % 512)) % 512;
    if (pad) blocks.push(new Uint8Array(pad));
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.byteLength, 0));
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.byteLength;
  }
  return out;
}
