import { Type } from 'class-transformer';
import { IsBoolean, IsInt, Max, Min, ValidateNested } from 'class-validator';
import { TlsSettings } from '../../config/tls-settings';
import type { ConfigProblem } from '../../errors';
import { HttpPoolConfig } from '../http/http-config';

export { TLS_MIN_VERSIONS, type TlsMinVersion } from '../../config/tls-settings';

/**
 * The `tls` block of section `https`: the shared TLS settings (file paths, `minVersion`,
 * `ciphers`) plus the client-certificate policy and the expiry warning.
 */
export class HttpsTlsSettings extends TlsSettings {
  /** Ask clients for a certificate (verified against `ca`). */
  @IsBoolean() requestCert = false;
  /** With `requestCert`: refuse a client whose certificate is missing or does not verify. */
  @IsBoolean() rejectUnauthorized = true;
  /** Health turns DEGRADED when the served certificate expires in fewer days than this. */
  @IsInt() @Min(0) @Max(3650) certExpiryWarningDays = 14;

  override crossCheck(): ConfigProblem[] {
    if (this.requestCert && this.rejectUnauthorized && !this.ca) {
      // Without `ca` node verifies client certificates against its public CA store: any publicly
      // issued certificate would pass. Mutual TLS needs the CA named.
      return [{ path: 'ca', rule: 'crossField', message: 'is required with requestCert and rejectUnauthorized (otherwise every public CA is trusted for client certificates)', value: this.ca }];
    }
    return super.crossCheck();
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
