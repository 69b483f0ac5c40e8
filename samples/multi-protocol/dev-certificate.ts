import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';

/** Where the sample keeps its self-signed certificate (gitignored: `.cache/`). */
export const DEV_CERT_DIR = join(__dirname, '../../../.cache/unipool-sample-tls');

/** A cached certificate is made again when it expires sooner than this. */
const RENEW_BEFORE_MS = 86_400_000;
const VALID_DAYS = 365;

/** Paths of the sample's localhost certificate and key. */
export interface DevCertificate {
  cert: string;
  key: string;
  /** True when it was made by this call (first start, or the cached one was expiring). */
  created: boolean;
}

function usable(cert: string, key: string): boolean {
  try {
    readFileSync(key);
    return Date.parse(new X509Certificate(readFileSync(cert)).validTo) - Date.now() > RENEW_BEFORE_MS;
  } catch {
    return false;
  }
}

/** Returns the cached self-signed localhost certificate, making it first if needed. */
export async function ensureDevCertificate(dir = DEV_CERT_DIR): Promise<DevCertificate> {
  const cert = join(dir, 'localhost-cert.pem');
  const key = join(dir, 'localhost-key.pem');
  if (usable(cert, key)) return { cert, key, created: false };
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + VALID_DAYS * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
    ],
  });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(key, pems.private, { mode: 0o600 });
  writeFileSync(cert, pems.cert, { mode: 0o644 });
  return { cert, key, created: true };
}

/** Sections of the sample served over TLS with the dev certificate when the config names none. */
const TLS_SECTIONS = ['https', 'http2'] as const;

function configuredTls(configFile: string, section: string): { cert?: unknown; key?: unknown } | undefined {
  try {
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, { tls?: { cert?: unknown; key?: unknown } } | undefined>;
    return config[section]?.tls;
  } catch {
    return undefined; // the application reports an unreadable or invalid file itself
  }
}

/**
 * For each of `https` and `http2` whose `tls` block names no certificate (neither in the config
 * file nor in the environment), makes (or reuses) the self-signed localhost one and returns an
 * environment whose `UNIPOOL_<SECTION>_TLS_*` overrides point at it. The library itself still
 * requires `tls.cert` and `tls.key`. A section the file has no `tls` block for (an h2c `http2`)
 * is left alone, except `https`, which always serves TLS.
 */
export async function withDevCertificate(configFile: string, env: NodeJS.ProcessEnv): Promise<{ env: NodeJS.ProcessEnv; devCertificate?: DevCertificate; sections: string[] }> {
  const wanting = TLS_SECTIONS.filter((section) => {
    const tls = configuredTls(configFile, section);
    if (tls === undefined && section !== 'https') return false;
    const prefix = `UNIPOOL_${section.toUpperCase()}_TLS_`;
    return !tls?.cert && !tls?.key && !env[`${prefix}CERT`] && !env[`${prefix}KEY`];
  });
  if (wanting.length === 0) return { env, sections: [] };
  const devCertificate = await ensureDevCertificate();
  const out = { ...env };
  for (const section of wanting) {
    const prefix = `UNIPOOL_${section.toUpperCase()}_TLS_`;
    out[`${prefix}CERT`] = devCertificate.cert;
    out[`${prefix}KEY`] = devCertificate.key;
  }
  return { env: out, devCertificate, sections: wanting };
}
