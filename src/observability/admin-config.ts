import { IsBoolean, IsInt, IsOptional, IsString, Matches, Max, Min, MinLength } from 'class-validator';

/** Shortest bearer token accepted: shorter ones are guessable. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/**
 * Section `admin`: the operator endpoint (`/metrics`, `/healthz`, `/readyz`, `/status`).
 * The admin server runs when the config has an `admin` section (even `{}`), so a library user
 * never gets an extra port by surprise; `enabled: false` turns a present section off.
 */
export class AdminConfig {
  /** Whether the admin server runs (when the section is present). Restart to change. */
  @IsBoolean() enabled = true;
  /** Interface to bind; loopback by default. Restart to change. */
  @IsString() @MinLength(1) host = '127.0.0.1';
  /** TCP port (Prometheus exporters' convention: 9464); 0 picks a free one. Restart to change. */
  @IsInt() @Min(0) @Max(65_535) port = 9464;
  /**
   * Bearer token required on `/metrics` and `/status` when set (probes stay open so the kubelet
   * needs no secret). Never logged or shown. Live.
   */
  @IsOptional()
  @IsString()
  @MinLength(MIN_ADMIN_TOKEN_LENGTH)
  @Matches(/^[\x21-\x7e]+$/, { message: 'must be printable ASCII without spaces' })
  token?: string;
  /** Time (ms) a scrape or probe may take to send its request before the admin server drops it. Restart to change. */
  @IsInt() @Min(100) @Max(300_000) requestTimeout = 10_000;
}
