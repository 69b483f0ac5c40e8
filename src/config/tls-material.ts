import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tls from 'node:tls';
import { TlsMaterialError, type ConfigProblem } from '../errors';

/** What `tls` settings point at, read from disk. Holds key material: never log it or put it in an event. */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca?: string;
}

/** The part of the `tls` settings that decides the secure context. */
export interface TlsFiles {
  cert: string;
  key: string;
  ca?: string;
  minVersion: tls.SecureVersion;
  ciphers?: string;
}

/** Public facts about the served certificate (what metrics and `/status` show). */
export interface CertificateInfo {
  subject: string;
  issuer: string;
  validFrom: string;
  validTo: string;
  /** `validTo` in ms since the epoch. */
  expiresAt: number;
  fingerprint256: string;
}

/** Material read while validating a settings object, so validation and use read the files once. */
const verified = new WeakMap<object, TlsMaterial>();

function readPem(path: string, what: string, setting: string): string {
  try {
    return readFileSync(resolve(path), 'utf8');
  } catch (err) {
    throw new TlsMaterialError(`cannot read ${what} file ${resolve(path)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, setting, { cause: err });
  }
}

function opensslReason(err: unknown): string {
  const e = err as { reason?: string; message?: string };
  return e.reason ?? e.message ?? String(err);
}

/** Options for `tls.createSecureContext` / `server.setSecureContext`. */
export function secureContextOptions(files: TlsFiles, material: TlsMaterial): tls.SecureContextOptions {
  return { cert: material.cert, key: material.key, ca: material.ca, minVersion: files.minVersion, ciphers: files.ciphers };
}

/**
 * Reads the files of `files` and proves they work: the certificate parses and a secure context
 * can be made from it and the key (which fails when the key does not match the certificate).
 * Throws `TlsMaterialError` naming the offending path; the message never holds key material.
 */
export function readTlsMaterial(files: TlsFiles): TlsMaterial {
  const material: TlsMaterial = { cert: readPem(files.cert, 'certificate', 'cert'), key: readPem(files.key, 'private key', 'key') };
  if (files.ca) material.ca = readPem(files.ca, 'CA', 'ca');
  try {
    new X509Certificate(material.cert);
  } catch (err) {
    throw new TlsMaterialError(`certificate file ${resolve(files.cert)} does not hold a PEM certificate (${opensslReason(err)})`, 'cert', { cause: err });
  }
  if (material.ca) {
    try {
      new X509Certificate(material.ca);
    } catch (err) {
      throw new TlsMaterialError(`CA file ${resolve(files.ca as string)} does not hold a PEM certificate (${opensslReason(err)})`, 'ca', { cause: err });
    }
  }
  try {
    tls.createSecureContext({ cert: material.cert, key: material.key });
  } catch (err) {
    throw new TlsMaterialError(`private key ${resolve(files.key)} and certificate ${resolve(files.cert)} do not form a usable pair (${opensslReason(err)})`, 'key', { cause: err });
  }
  try {
    tls.createSecureContext(secureContextOptions(files, material));
  } catch (err) {
    throw new TlsMaterialError(`TLS settings are not usable with this certificate (${opensslReason(err)})`, files.ciphers ? 'ciphers' : 'ca', { cause: err });
  }
  return material;
}

/** Config problems of `files` (paths relative to the `tls` block); remembers the material when there are none. */
export function tlsMaterialProblems(files: TlsFiles): ConfigProblem[] {
  try {
    verified.set(files, readTlsMaterial(files));
    return [];
  } catch (err) {
    if (!(err instanceof TlsMaterialError)) throw err;
    return [{ path: err.setting, rule: 'tlsMaterial', message: err.message, value: files[err.setting as keyof TlsFiles] }];
  }
}

/** The material of validated settings (read during validation), or read and checked now. */
export function loadTlsMaterial(files: TlsFiles): TlsMaterial {
  const cached = verified.get(files);
  if (cached) return cached;
  const material = readTlsMaterial(files);
  verified.set(files, material);
  return material;
}

/** Public facts of the first certificate in `pem`. */
export function describeCertificate(pem: string): CertificateInfo {
  const x509 = new X509Certificate(pem);
  return {
    subject: x509.subject,
    issuer: x509.issuer,
    validFrom: new Date(x509.validFrom).toISOString(),
    validTo: new Date(x509.validTo).toISOString(),
    expiresAt: Date.parse(x509.validTo),
    fingerprint256: x509.fingerprint256,
  };
}

/** Whether two materials are the same certificate, key and CA. */
export function sameMaterial(a: TlsMaterial | undefined, b: TlsMaterial): boolean {
  return a !== undefined && a.cert === b.cert && a.key === b.key && a.ca === b.ca;
}
