import { IsBoolean, IsInt, IsOptional, IsString, Matches, Max, Min, MinLength } from 'class-validator';

/** Most `/events` streams `admin.maxEventStreams` allows: the rest of the admin sockets stay for scrapers and probes. */
export const MAX_EVENT_STREAMS = 32;

/** Shortest bearer token accepted: shorter ones are guessable. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/**
 * Section `admin`: the operator endpoint (`/metrics`, `/healthz`, `/readyz`, `/status`, `/dashboard`, `/events`).
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
   * Bearer token required on `/metrics`, `/status` and `/events` when set (probes stay open so the kubelet
   * needs no secret). Never logged or shown. Live.
   */
  @IsOptional()
  @IsString()
  @MinLength(MIN_ADMIN_TOKEN_LENGTH)
  @Matches(/^[\x21-\x7e]+$/, { message: 'must be printable ASCII without spaces' })
  token?: string;
  /** Time (ms) a scrape or probe may take to send its request before the admin server drops it. Restart to change. */
  @IsInt() @Min(100) @Max(300_000) requestTimeout = 10_000;
  /** Whether the admin server serves the live dashboard (`/dashboard`) and its event stream (`/events`). Restart to change. */
  @IsBoolean() dashboard = true;
  /**
   * `/events` streams open at once (each dashboard tab holds one); one more is answered 503.
   * Bounded well below the admin server's 64 sockets, so viewers never crowd out scrapes. Restart to change.
   */
  @IsInt() @Min(1) @Max(MAX_EVENT_STREAMS) maxEventStreams = 8;
}
