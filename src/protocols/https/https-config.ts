import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Max, Min, MinLength, ValidateNested } from 'class-validator';
import { IsReadableFile } from '../../config/readable-file';
import type { ConfigProblem } from '../../errors';
import { HttpPoolConfig } from '../http/http-config';
import { tlsMaterialProblems } from './tls-material';

/** TLS versions a server may require as its minimum; anything older is refused at validation. */
export const TLS_MIN_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
/** A TLS version `minVersion` accepts. */
export type TlsMinVersion = (typeof TLS_MIN_VERSIONS)[number];

/**
 * The `tls` block of section `https`. Certificate, key and CA are file *paths*: the PEM text
 * itself is refused, so key material never shows in the effective config, errors or logs.
 */
export class HttpsTlsSettings {
  /** Path of the PEM certificate (chain) the server presents. */
  @IsReadableFile('certificate') cert = '';
  /** Path of the PEM private key matching `cert`. */
  @IsReadableFile('private key') key = '';
  /** Path of a PEM bundle of CAs that client certificates are verified against (with `requestCert`). */
  @IsOptional() @IsReadableFile('CA') ca?: string;
  /** Oldest TLS version accepted: `TLSv1.2` or `TLSv1.3`. */
  @IsIn(TLS_MIN_VERSIONS, { message: `must be one of ${TLS_MIN_VERSIONS.join(', ')} (older versions are not accepted)` })
  minVersion: TlsMinVersion = 'TLSv1.2';
  /** OpenSSL cipher list (TLS 1.2 and below); absent: Node's default list. */
  @IsOptional() @IsString() @MinLength(1) ciphers?: string;
  /** Ask clients for a certificate (verified against `ca`). */
  @IsBoolean() requestCert = false;
  /** With `requestCert`: refuse a client whose certificate is missing or does not verify. */
  @IsBoolean() rejectUnauthorized = true;
  /** Health turns DEGRADED when the served certificate expires in fewer days than this. */
  @IsInt() @Min(0) @Max(3650) certExpiryWarningDays = 14;

  /** Reads the files and checks they form a usable pair (the key matches the certificate). */
  crossCheck(): ConfigProblem[] {
    // Cross rules also run when fields failed (one pass lists everything); proving the pair
    // with an invalid policy would only repeat that field's problem under another path.
    if (this.requestCert && this.rejectUnauthorized && !this.ca) {
      // Without `ca` node verifies client certificates against its public CA store: any publicly
      // issued certificate would pass. Mutual TLS needs the CA named.
      return [{ path: 'ca', rule: 'crossField', message: 'is required with requestCert and rejectUnauthorized (otherwise every public CA is trusted for client certificates)', value: this.ca }];
    }
    if (!(TLS_MIN_VERSIONS as readonly string[]).includes(this.minVersion)) return [];
    if (this.ciphers !== undefined && (typeof this.ciphers !== 'string' || this.ciphers.length === 0)) return [];
    return tlsMaterialProblems(this);
  }
}

/** Section `https`: an HTTPS server and its pool; every HTTP key plus `tls`. */
export class HttpsPoolConfig extends HttpPoolConfig {
  override port = 3443;
  /** Certificate, key and TLS policy. */
  @ValidateNested() @Type(() => HttpsTlsSettings) tls: HttpsTlsSettings = new HttpsTlsSettings();

  override crossCheck(): ConfigProblem[] {
    const problems = super.crossCheck();
    for (const p of this.tls.crossCheck()) problems.push({ ...p, path: `tls.${p.path}` });
    return problems;
  }
}
