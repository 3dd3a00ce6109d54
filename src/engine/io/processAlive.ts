import * as fs from 'node:fs';

/**
 * Whether process `pid` still runs (on this host). A zombie — a process that has exited but whose parent has not
 * reaped it yet — counts as gone: it holds no lock and writes nothing more. An orphan's zombie waits for init,
 * which some containers' init reaps only every second or so. Linux reads the state from /proc; elsewhere (no
 * /proc) signal 0 answers, and a process of another user (EPERM) runs.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true; // no /proc (not Linux), or it ended just now: signal 0 found it
  }
  // Field 3 (state) follows the command name, which may hold spaces and parentheses: read after the last ')'.
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state !== 'Z' && state !== 'X';
}
