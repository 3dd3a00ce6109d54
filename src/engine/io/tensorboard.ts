/**
 * TensorBoard event files without TensorFlow: TFRecord framing with masked CRC32C around hand-encoded
 * `Event` / `Summary` protobufs (tensorflow/core/util/event.proto, framework/summary.proto).
 *
 * A record is  u64le length · u32le masked_crc32c(length bytes) · data · u32le masked_crc32c(data),
 * masked_crc32c(x) = ((crc >>> 15) | (crc << 17)) + 0xa282ead8 (mod 2³²), crc = CRC-32C (Castagnoli,
 * reflected polynomial 0x82F63B78). The first event of a file carries file_version "brain.Event:2"; each
 * event is flushed to the OS as it is written (one write per event), so a live TensorBoard sees every
 * evaluation and a crash loses at most the event being written.
 *
 * Field numbers used: Event {wall_time 1 double, step 2 int64, file_version 3 string, summary 5,
 * session_log 7}; Summary {value 1 repeated}; Summary.Value {tag 1, simple_value 2 float, metadata 9,
 * tensor 8}; SessionLog {status 1 (START = 1), msg 3}; SummaryMetadata {plugin_data 1 {plugin_name 1,
 * content 2}, data_class 4}; TensorProto {dtype 1 (DT_STRING = 7), tensor_shape 2, string_val 8}.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeFsError } from './atomic';

// ---- CRC-32C ----

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C of `bytes` (check value: "123456789" → 0xE3069283). */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15, add a constant, so CRCs of CRCs stay well distributed. */
export function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: length, its masked CRC, the data, the data's masked CRC. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length % 2 ** 32, true);
  dv.setUint32(4, Math.floor(data.length / 2 ** 32), true);
  dv.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  dv.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

// ---- protobuf encoding (just what Event / Summary need) ----

class Pb {
  private parts: number[] = [];

  private varint(n: number): void {
    // Non-negative safe integers (steps up to 2⁵³): division instead of 32-bit shifts.
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`protobuf varint needs a non-negative integer, got ${n}`);
    while (n >= 0x80) {
      this.parts.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.parts.push(n);
  }
  private key(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  uint(field: number, n: number): this {
    this.key(field, 0);
    this.varint(n);
    return this;
  }
  double(field: number, x: number): this {
    this.key(field, 1);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, true);
    this.parts.push(...b);
    return this;
  }
  float(field: number, x: number): this {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, x, true);
    this.parts.push(...b);
    return this;
  }
  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2);
    this.varint(b.length);
    for (let i = 0; i < b.length; i++) this.parts.push(b[i]);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  message(field: number, m: Pb): this {
    return this.bytes(field, m.finish());
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export interface Scalar {
  tag: string;
  value: number;
}

function event(wallTime: number, step: number): Pb {
  return new Pb().double(1, wallTime).uint(2, step);
}

/** An Event holding a Summary of scalars (simple_value, which TensorBoard and `wandb sync` read). */
export function scalarsEvent(wallTime: number, step: number, scalars: Scalar[]): Uint8Array {
  const summary = new Pb();
  for (const s of scalars) summary.message(1, new Pb().string(1, s.tag).float(2, s.value));
  return event(wallTime, step).message(5, summary).finish();
}

/** An Event holding one text summary (TensorBoard's Text tab renders it as Markdown). */
export function textEvent(wallTime: number, step: number, tag: string, text: string): Uint8Array {
  const metadata = new Pb().message(1, new Pb().string(1, 'text')).uint(4, 2); // plugin "text", DATA_CLASS_TENSOR
  const tensor = new Pb().uint(1, 7).message(2, new Pb()).string(8, text); // DT_STRING, scalar shape
  const value = new Pb().string(1, tag).message(9, metadata).message(8, tensor);
  return event(wallTime, step).message(5, new Pb().message(1, value)).finish();
}

/**
 * SessionLog START at `step`: TensorBoard then discards events at steps ≥ `step` read from earlier files
 * of the folder, so a resumed run's re-computed evaluations replace the stale ones instead of doubling.
 */
export function sessionStartEvent(wallTime: number, step: number, msg = ''): Uint8Array {
  const log = new Pb().uint(1, 1);
  if (msg) log.string(3, msg);
  return event(wallTime, step).message(7, log).finish();
}

export function fileVersionEvent(wallTime: number): Uint8Array {
  return event(wallTime, 0).string(3, 'brain.Event:2').finish();
}

// ---- the writer ----

/**
 * `events.out.tfevents.<unix seconds>.<host>.<pid>.<n>`, named so it sorts after every event file already
 * in `dir` (TensorBoard reads a folder's files in name order).
 */
export function eventFileName(dir: string, now = Date.now()): string {
  let secs = Math.floor(now / 1000);
  let existing: string[] = [];
  try {
    existing = fs.readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.'));
  } catch {
    /* new folder */
  }
  for (const f of existing) {
    const t = Number(f.split('.')[3]);
    if (Number.isFinite(t) && t >= secs) secs = t + 1;
  }
  const host = os.hostname().replace(/[^A-Za-z0-9_-]/g, '_') || 'host';
  return `events.out.tfevents.${String(secs).padStart(10, '0')}.${host}.${process.pid}.${existing.length}`;
}

/** Appends events to one new file in `dir`; each event is one write(2), so it is in the OS as soon as it returns. */
export class EventWriter {
  readonly path: string;
  private fd: number | null;

  constructor(dir: string, now = Date.now()) {
    try {
      fs.mkdirSync(dir, { recursive: true });
      this.path = path.join(dir, eventFileName(dir, now));
      this.fd = fs.openSync(this.path, 'wx');
    } catch (err) {
      throw new Error(`cannot write TensorBoard events in ${dir}: ${describeFsError(err)}`, { cause: err });
    }
    this.write(fileVersionEvent(now / 1000));
  }

  write(eventBytes: Uint8Array): void {
    if (this.fd === null) throw new Error(`${this.path}: the event writer is closed`);
    const rec = tfRecord(eventBytes);
    let off = 0;
    try {
      while (off < rec.length) off += fs.writeSync(this.fd, rec, off, rec.length - off);
    } catch (err) {
      throw new Error(`cannot write TensorBoard events to ${this.path}: ${describeFsError(err)}`, { cause: err });
    }
  }

  scalars(wallTime: number, step: number, scalars: Scalar[]): void {
    const finite = scalars.filter((s) => Number.isFinite(s.value));
    if (finite.length) this.write(scalarsEvent(wallTime, step, finite));
  }

  text(wallTime: number, step: number, tag: string, text: string): void {
    this.write(textEvent(wallTime, step, tag, text));
  }

  sessionStart(wallTime: number, step: number, msg = ''): void {
    this.write(sessionStartEvent(wallTime, step, msg));
  }

  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      fs.fsyncSync(fd);
    } catch {
      /* best effort, as metrics.jsonl */
    }
    fs.closeSync(fd);
  }
}
