import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min, MinLength, ValidateNested } from 'class-validator';
import { ServerPoolSettings } from '../../config/pool-config';
import type { ConfigProblem } from '../../errors';

/** Largest value grpc-js accepts for a millisecond or byte option (a signed 32-bit int). */
const INT32_MAX = 2_147_483_647;

/** TLS files of a gRPC server (PEM paths, relative to the working directory). */
export class GrpcTlsConfig {
  /** Certificate chain of the server. */
  @IsString() @MinLength(1) cert!: string;
  /** Private key of `cert`. */
  @IsString() @MinLength(1) key!: string;
  /** CA bundle; when set, clients must present a certificate it signed. */
  @IsOptional() @IsString() @MinLength(1) ca?: string;
}

/**
 * Section `grpc`: a gRPC server on `@grpc/grpc-js` and its pool. Times are milliseconds, sizes
 * bytes; for the keepalive, age and idle keys 0 turns the behaviour off, for the message
 * limits 0 means no limit. The pool-wide `connectionTimeout` bounds the time from connect
 * to an established HTTP/2 session (a TLS handshake included); `idleTimeout` and `maxConnectionIdle`
 * both send GOAWAY to a connection with no call open (the first is the pool's timer, the second
 * grpc-js's).
 */
export class GrpcPoolConfig extends ServerPoolSettings {
  override port = 50051;
  /** Interval of HTTP/2 PINGs the server sends to check a connection is alive (`grpc.keepalive_time_ms`). */
  @IsInt() @Min(0) @Max(INT32_MAX) keepAliveTime = 7_200_000;
  /** Time a PING may go unanswered before the connection is closed (`grpc.keepalive_timeout_ms`). */
  @IsInt() @Min(1) @Max(INT32_MAX) keepAliveTimeout = 20_000;
  /** Age after which a connection gets GOAWAY so clients rebalance (`grpc.max_connection_age_ms`). */
  @IsInt() @Min(0) @Max(INT32_MAX) maxConnectionAge = 0;
  /** Time calls may still run after the age GOAWAY before the connection is cut (`grpc.max_connection_age_grace_ms`). */
  @IsInt() @Min(0) @Max(INT32_MAX) maxConnectionAgeGrace = 0;
  /** Time a connection with no call open may stay before it gets GOAWAY (`grpc.max_connection_idle_ms`). */
  @IsInt() @Min(0) @Max(INT32_MAX) maxConnectionIdle = 0;
  /**
   * Calls one connection may have open at once, advertised in the HTTP/2 SETTINGS frame
   * (`grpc.max_concurrent_streams`); a client queues calls beyond it. At least 1 (0 would refuse
   * every call); with `maxConnections` it bounds the calls the server runs at once.
   */
  @IsInt() @Min(1) @Max(INT32_MAX) maxConcurrentStreams = 100;
  /** Largest request message; a larger one fails with RESOURCE_EXHAUSTED (`grpc.max_receive_message_length`). */
  @IsInt() @Min(0) @Max(INT32_MAX) maxReceiveMessageLength = 4 * 1024 * 1024;
  /** Largest response message (`grpc.max_send_message_length`). */
  @IsInt() @Min(0) @Max(INT32_MAX) maxSendMessageLength = 0;
  /** TLS; absent means plaintext (h2c). */
  @IsOptional() @ValidateNested() @Type(() => GrpcTlsConfig) tls?: GrpcTlsConfig;

  override crossCheck(): ConfigProblem[] {
    const problems = super.crossCheck();
    if (this.maxConnectionAgeGrace > 0 && this.maxConnectionAge === 0) {
      problems.push({ path: 'maxConnectionAgeGrace', rule: 'crossField', message: 'has no effect unless maxConnectionAge is set', value: this.maxConnectionAgeGrace });
    }
    if (this.tls) problems.push(...checkTlsFiles(this.tls));
    return problems;
  }
}

/** The PEM contents of a TLS config, read from disk. */
export interface GrpcTlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

/** Reads the TLS files; throws the first `ConfigProblem`-shaped failure as an Error. */
export function readTlsMaterial(tls: GrpcTlsConfig): GrpcTlsMaterial {
  return { cert: readFileSync(tls.cert), key: readFileSync(tls.key), ca: tls.ca === undefined ? undefined : readFileSync(tls.ca) };
}

/**
 * Checks at boot that every TLS file can be read and that cert and key make a usable TLS
 * context: a broken certificate must stop the boot, never fall back to plaintext.
 */
function checkTlsFiles(tls: GrpcTlsConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const contents: Partial<Record<'cert' | 'key' | 'ca', Buffer>> = {};
  for (const key of ['cert', 'key', 'ca'] as const) {
    const file = tls[key];
    if (file === undefined) continue;
    try {
      contents[key] = readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      problems.push({ path: `tls.${key}`, rule: 'readableFile', message: `cannot read file ${file} (${code})`, value: file });
    }
  }
  if (problems.length > 0) return problems;
  try {
    createSecureContext({ cert: contents.cert, key: contents.key, ca: contents.ca });
  } catch (err) {
    problems.push({ path: 'tls', rule: 'usableCertificate', message: `${tls.cert} and ${tls.key} do not make a usable TLS context: ${(err as Error).message}` });
  }
  return problems;
}
