// A self-signed serving certificate for 127.0.0.1/localhost (openssl), for HTTPS test servers.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { run } from './process.ts';

export interface TestCert {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

export async function makeServerCert(dir: string, name = 'server'): Promise<TestCert> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  return {
    certFile,
    keyFile,
    certPem: await readFile(certFile, 'utf8'),
    keyPem: await readFile(keyFile, 'utf8'),
  };
}
