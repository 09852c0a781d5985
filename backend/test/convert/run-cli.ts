// Runs the `slipstream` CLI as a child process (the way a user does) and returns its exit code
// and output, whether it succeeded or not.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const bin = new URL('../../bin/slipstream.js', import.meta.url).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliUser {
  uid: number;
  gid: number;
}

/** Runs the CLI, with `env` as its whole environment if given, as `user` if given (root only). */
export async function runCli(
  args: string[],
  env?: NodeJS.ProcessEnv,
  user?: CliUser,
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, ...args], {
      ...(env ? { env } : {}),
      ...(user ?? {}),
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as CliResult;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
