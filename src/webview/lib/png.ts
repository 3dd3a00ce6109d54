/**
 * PNG metadata: an iTXt chunk (UTF-8 text under a keyword) inserted after IHDR, so an exported figure
 * carries its run's metadata (readable with `exiftool`, Pillow's `Image.open(p).text`, or any PNG
 * chunk reader). Pure module, unit-tested.
 */

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 of the PNG specification (ISO 3309), over `bytes`. */
export function crc32(bytes: Uint8Array, crc = 0xffffffff): number {
  let c = crc;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

export interface PngChunk {
  type: string;
  data: Uint8Array;
  crcOk: boolean;
}

/** The chunks of a PNG file (throws on a bad signature). */
export function pngChunks(png: Uint8Array): PngChunk[] {
  if (SIGNATURE.some((b, i) => png[i] !== b)) throw new Error('not a PNG file');
  const out: PngChunk[] = [];
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  for (let p = 8; p + 12 <= png.length;) {
    const len = dv.getUint32(p);
    const type = String.fromCharCode(...png.subarray(p + 4, p + 8));
    const data = png.subarray(p + 8, p + 8 + len);
    const crc = dv.getUint32(p + 8 + len);
    out.push({ type, data, crcOk: crc32(png.subarray(p + 4, p + 8 + len)) === crc });
    p += 12 + len;
  }
  return out;
}

/** `png` with an iTXt chunk `keyword` = `text` (UTF-8, uncompressed) right after IHDR. */
export function addPngText(png: Uint8Array, keyword: string, text: string): Uint8Array {
  if (!/^[\x20-\x7e]{1,79}$/.test(keyword)) throw new Error('PNG keyword: 1–79 printable Latin-1 characters');
  const enc = new TextEncoder();
  const kw = enc.encode(keyword),
    body = enc.encode(text);
  // keyword \0, compression flag 0, method 0, language tag "" \0, translated keyword "" \0, text.
  const data = new Uint8Array(kw.length + 5 + body.length);
  data.set(kw, 0);
  data.set(body, kw.length + 5);
  const chunk = new Uint8Array(12 + data.length);
  const dv = new DataView(chunk.buffer);
  dv.setUint32(0, data.length);
  chunk.set(enc.encode('iTXt'), 4);
  chunk.set(data, 8);
  dv.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
  const ihdrEnd = 8 + 12 + new DataView(png.buffer, png.byteOffset).getUint32(8);
  const out = new Uint8Array(png.length + chunk.length);
  out.set(png.subarray(0, ihdrEnd), 0);
  out.set(chunk, ihdrEnd);
  out.set(png.subarray(ihdrEnd), ihdrEnd + chunk.length);
  return out;
}

/** Reads the iTXt / tEXt texts of a PNG (keyword → text). */
export function pngTexts(png: Uint8Array): Record<string, string> {
  const dec = new TextDecoder();
  const out: Record<string, string> = {};
  for (const c of pngChunks(png)) {
    if (c.type !== 'iTXt' && c.type !== 'tEXt') continue;
    const z = c.data.indexOf(0);
    const key = dec.decode(c.data.subarray(0, z));
    if (c.type === 'tEXt') {
      out[key] = String.fromCharCode(...c.data.subarray(z + 1));
      continue;
    }
    let p = z + 3; // flag, method
    p = c.data.indexOf(0, p) + 1; // language tag
    p = c.data.indexOf(0, p) + 1; // translated keyword
    out[key] = dec.decode(c.data.subarray(p));
  }
  return out;
}
