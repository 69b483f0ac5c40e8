import { IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { ServerPoolSettings } from '../../config/pool-config';
import type { ConfigProblem } from '../../errors';

/** Keys of the listener, which a section attached to another server's listener leaves out. */
const LISTENER_KEYS = ['host', 'port'] as const;

/**
 * Section `ws`: a WebSocket server (`ws` on its own `node:http` server, or on the port of an
 * HTTP/HTTPS server of the app with `attachTo`) and its pool. Times are
 * milliseconds, sizes bytes. A connection is admitted when its upgrade completes, so
 * `connectionTimeout` here bounds the wait for a client's first message (0, the default, turns
 * it off: listen-only clients are normal); `handshakeTimeout` bounds the upgrade request itself.
 */
export class WebSocketPoolConfig extends ServerPoolSettings {
  override port = 3001;
  override maxConnections = 10_000;
  override connectionTimeout = 0;
  /**
   * Section of an HTTP or HTTPS server of the app whose port takes this server's upgrades (on
   * `path`; other upgrade paths there get `404`, plain requests stay that server's). `host` and
   * `port` are then left out. Absent: the server listens on its own `host:port`.
   */
  @IsOptional() @IsString() @Matches(/^[A-Za-z0-9_-]+$/, { message: 'must name a config section (letters, digits, _ and -)' }) attachTo?: string;
  /** Request path that accepts upgrades; any other path gets `404`. */
  @IsString() @Matches(/^\/[^\s?#]*$/, { message: 'must start with / and hold no spaces, query or fragment' }) path = '/ws';
  /** How often every client is pinged. */
  @IsInt() @Min(10) @Max(3_600_000) pingInterval = 30_000;
  /** How long a pinged client has to answer before it is terminated; at most `pingInterval`. */
  @IsInt() @Min(10) @Max(3_600_000) pongTimeout = 10_000;
  /** Largest message a client may send; a larger one closes the connection with 1009. */
  @IsInt() @Min(1) @Max(1_073_741_824) maxPayload = 1_048_576;
  /**
   * Bytes a client may have waiting in its send buffer: over it, broadcasts skip the client and,
   * if it is still over at the next check, it is closed with 1008. At least `maxPayload`.
   */
  @IsInt() @Min(1024) @Max(1_073_741_824) maxBufferedAmount = 4_194_304;
  /** Time a client has to send its complete upgrade request (slowloris guard). */
  @IsInt() @Min(1) @Max(86_400_000) handshakeTimeout = 10_000;
  /** Time the close handshake may take before the socket is terminated (counted as forced in a drain). */
  @IsInt() @Min(1) @Max(3_600_000) closeTimeout = 5000;
  /** Seconds a refused client is told to wait (`Retry-After`). */
  @IsInt() @Min(0) @Max(86_400) retryAfter = 1;

  override crossCheck(): ConfigProblem[] {
    const problems = super.crossCheck();
    if (this.pongTimeout > this.pingInterval) {
      problems.push({ path: 'pongTimeout', rule: 'crossField', message: `must not be greater than pingInterval (${this.pingInterval})`, value: this.pongTimeout });
    }
    if (this.attachTo != null) {
      const defaults = new (this.constructor as new () => WebSocketPoolConfig)();
      for (const key of LISTENER_KEYS) {
        if (this[key] === defaults[key]) continue;
        problems.push({ path: key, rule: 'attachTo', message: `must be left out when attachTo is set: upgrades arrive on the listener of section '${this.attachTo}'`, value: this[key] });
      }
    }
    if (this.maxBufferedAmount < this.maxPayload) {
      problems.push({ path: 'maxBufferedAmount', rule: 'crossField', message: `must not be less than maxPayload (${this.maxPayload}), or echoing one allowed message could trip it`, value: this.maxBufferedAmount });
    }
    return problems;
  }
}
