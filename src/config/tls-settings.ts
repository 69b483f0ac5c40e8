import { IsIn, IsOptional, IsString, MinLength } from 'class-validator';
import { PEM_BLOCK, type ConfigProblem } from '../errors';
import { IsReadableFile } from './readable-file';
import { tlsMaterialProblems } from './tls-material';

/** TLS versions a server may require as its minimum; anything older is refused at validation. */
export const TLS_MIN_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
/** A TLS version `minVersion` accepts. */
export type TlsMinVersion = (typeof TLS_MIN_VERSIONS)[number];

/**
 * The default `tls.ciphers` of every TLS server (HTTPS and gRPC): for TLS 1.2, only AEAD suites
 * with forward secrecy (Mozilla's "intermediate" profile: ECDHE with AES-GCM or
 * ChaCha20-Poly1305, DHE-RSA with AES-GCM), so no CBC (LUCKY13), ARIA or CCM8 suite is offered;
 * the TLS 1.3 suites are node's defaults, in node's order. Widen it with `tls.ciphers`.
 */
export const DEFAULT_TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
].join(':');

/**
 * The `tls` block every TLS server shares. Certificate, key and CA are file *paths*: PEM text in
 * their place is refused without being echoed, so key material never shows in the effective
 * config, errors or logs.
 */
export class TlsSettings {
  /** Path of the PEM certificate (chain) the server presents. */
  @IsReadableFile('certificate') cert = '';
  /** Path of the PEM private key matching `cert`. */
  @IsReadableFile('private key') key = '';
  /** Path of a PEM bundle of CAs that client certificates are verified against. */
  @IsOptional() @IsReadableFile('CA') ca?: string;
  /** Oldest TLS version accepted: `TLSv1.2` or `TLSv1.3`. */
  @IsIn(TLS_MIN_VERSIONS, { message: `must be one of ${TLS_MIN_VERSIONS.join(', ')} (older versions are not accepted)` })
  minVersion: TlsMinVersion = 'TLSv1.2';
  /** OpenSSL cipher list; `TLS_*` names set the TLS 1.3 suites. Default: `DEFAULT_TLS_CIPHERS`. */
  @IsString() @MinLength(1) ciphers: string = DEFAULT_TLS_CIPHERS;

  /** Reads the files and proves they make a usable TLS context (the key matches the certificate). */
  crossCheck(): ConfigProblem[] {
    // Cross rules also run when fields failed (one pass lists everything); proving the files
    // with a field that has its own problem would only repeat it, and reading PEM text as a
    // path would put key material in a message.
    for (const file of [this.cert, this.key, this.ca]) {
      if (file !== undefined && (typeof file !== 'string' || file.length === 0 || PEM_BLOCK.test(file))) return [];
    }
    if (!(TLS_MIN_VERSIONS as readonly string[]).includes(this.minVersion)) return [];
    if (typeof this.ciphers !== 'string' || this.ciphers.length === 0) return [];
    return tlsMaterialProblems(this);
  }
}
