// Crash-safe writes. A run folder must never hold a half-written run.json or checkpoint: readers
// (the extension, a resumed run) would otherwise choke on it. So whole files go temp -> fsync ->
// rename (atomic on POSIX and NTFS within one folder), and the metrics log is append-only JSONL
// written with one synchronous write per line.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { processAlive } from './processAlive';

const FRIENDLY: Record<string, string> = {
  ENOSPC: 'disk full',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a parent path is not a folder',
  EISDIR: 'is a folder',
  EEXIST: 'already exists',
  EMFILE: 'too many open files',
  EBUSY: 'resource busy',
  EIO: 'I/O error',
};

/** "ENOSPC (disk full)" for Node fs errors; the plain message otherwise. */
export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string') return FRIENDLY[e.code] ? `${e.code} (${FRIENDLY[e.code]})` : e.code;
  return e instanceof Error ? e.message : String(err);
}

function ioError(what: string, file: string, cause: unknown): Error {
  return new Error(`cannot ${what} ${file}: ${describeFsError(cause)}`, { cause });
}

function writeAll(fd: number, buf: Uint8Array): void {
  // writeSync may write fewer bytes than asked (rare, but allowed); loop until done.
  let off = 0;
  while (off < buf.byteLength) off += fs.writeSync(fd, buf, off, buf.byteLength - off);
}

function fsyncDir(dir: string): void {
  // Makes the rename itself durable. Not possible on Windows (EISDIR/EPERM) - best effort only.
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* best effort */
  } finally {
    if (fd !== undefined)
      try {
        fs.closeSync(fd);
      } catch {
        /* ignore */
      }
  }
}

/**
 * Replaces `file` with `data` atomically: readers see the old content or the new, never a mix.
 * On failure the temp file is removed, the old content is untouched, and the error names the path.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx'); // wx: never clobber someone else's temp file
    writeAll(fd, buf);
    fs.fsyncSync(fd); // data on disk before the rename makes it visible
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined)
      try {
        fs.closeSync(fd);
      } catch {
        /* ignore */
      }
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* never created, or already gone */
    }
    throw ioError('write', file, err);
  }
  fsyncDir(path.dirname(file));
}

/** A temp file of writeFileAtomic: `<file>.tmp-<pid>-<hex>`. */
const TEMP_RE = /\.tmp-(\d+)-[0-9a-f]+$/;

/**
 * Removes the temp files in `dir` left by writers that were killed mid-write (their process is gone);
 * a live process's temp file is kept, so a concurrent writer's rename still finds it. Returns the count.
 */
export function removeStaleTemps(dir: string): number {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const f of names) {
    const m = TEMP_RE.exec(f);
    if (!m || processAlive(Number(m[1]))) continue;
    try {
      fs.unlinkSync(path.join(dir, f));
      removed++;
    } catch {
      /* already gone */
    }
  }
  return removed;
}

export function writeJsonAtomic(file: string, value: unknown): void {
  const text = JSON.stringify(value, null, 2);
  if (text === undefined) throw new Error(`cannot write ${file}: value is not JSON-serialisable`);
  writeFileAtomic(file, text + '\n');
}

/**
 * Byte offset just past the last '\n' in the file (0 if none). Used to cut off a torn last line
 * left by a killed writer, so new lines never glue onto a fragment.
 */
function endOfLastLine(fd: number, size: number): number {
  const chunk = Buffer.alloc(64 * 1024);
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - chunk.length);
    const n = fs.readSync(fd, chunk, 0, end - start, start);
    const i = chunk.subarray(0, n).lastIndexOf(0x0a);
    if (i >= 0) return start + i + 1;
    end = start;
  }
  return 0;
}

/** A last line without '\n': finish it if it is whole JSON (cut just before the newline), else drop it. */
function repairTail(fd: number, keep: number, size: number): void {
  const tail = Buffer.alloc(size - keep);
  fs.readSync(fd, tail, 0, tail.length, keep);
  let whole = true;
  try {
    JSON.parse(tail.toString('utf8'));
  } catch {
    whole = false;
  }
  if (whole) fs.writeSync(fd, '\n');
  else fs.ftruncateSync(fd, keep);
}

/**
 * Append-only JSON-lines log. Each append is one synchronous write(2) of a whole line, so once
 * append returns the line is in the kernel: killing the process cannot lose it (power loss can;
 * close() fsyncs). Opening repairs a torn last line left by an earlier crash (see repairTail).
 */
export class JsonlAppender {
  private fd: number | undefined;

  constructor(readonly path: string) {
    let fd: number | undefined;
    try {
      fd = fs.openSync(path, 'a+'); // read (to find a torn tail) + O_APPEND (every write lands at the end)
      const size = fs.fstatSync(fd).size;
      if (size > 0) {
        const keep = endOfLastLine(fd, size);
        if (keep !== size) repairTail(fd, keep, size);
      }
      this.fd = fd;
    } catch (err) {
      if (fd !== undefined)
        try {
          fs.closeSync(fd);
        } catch {
          /* ignore */
        }
      throw ioError('open', path, err);
    }
  }

  append(obj: unknown): void {
    if (this.fd === undefined) throw new Error(`cannot append to ${this.path}: appender is closed`);
    const text = JSON.stringify(obj);
    if (text === undefined) throw new Error(`cannot append to ${this.path}: value is not JSON-serialisable`);
    try {
      writeAll(this.fd, Buffer.from(text + '\n', 'utf8')); // JSON.stringify escapes newlines: one line
    } catch (err) {
      throw ioError('append to', this.path, err);
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      fs.fsyncSync(fd);
    } catch {
      /* best effort */
    }
    fs.closeSync(fd);
  }
}

/**
 * Reads a JSONL file. A last line without its '\n' that does not parse is a write cut short by a
 * crash and is ignored; a bad line anywhere else is corruption and throws with its line number.
 */
export function readJsonl(file: string): unknown[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw ioError('read', file, err);
  }
  const lines = text.split('\n');
  const complete = text.endsWith('\n');
  if (complete) lines.pop(); // the '' after the final newline
  const out: unknown[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line));
    } catch (err) {
      if (!complete && i === lines.length - 1) break; // torn tail
      throw new Error(`${file}:${i + 1}: corrupt JSON line: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return out;
}
