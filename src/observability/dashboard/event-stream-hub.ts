import type { Logger } from '../../core/logger';

/** The part of an `http.ServerResponse` (headers already sent) the hub writes Server-Sent Events to. */
export interface EventSink {
  /** Bytes queued in node, not yet taken by the kernel: a client that stopped reading makes it grow. */
  readonly writableLength: number;
  write(chunk: string): boolean;
  end(chunk?: string): void;
  destroy(): void;
  once(event: 'close', listener: () => void): unknown;
}

/** Limits of the hub. */
export interface EventStreamOptions {
  /** Streams open at once; one more is refused (the admin server answers 503). */
  maxSubscribers: number;
  /** Time between frames (ms). Default 1000. */
  intervalMs?: number;
  /** Unsent bytes a stream may queue before it is dropped as a client that stopped reading. Default 256 KiB. */
  maxBufferedBytes?: number;
}

/** How long a browser waits before reconnecting a dropped stream (ms), sent as the SSE `retry` field. */
const RECONNECT_DELAY_MS = 2000;
const DEFAULT_INTERVAL_MS = 1000;
const DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024;

/**
 * Server-Sent Events to a bounded set of subscribers: one frame at once on subscribe, then one per
 * interval, each frame built once and written to every stream. The timer runs only while someone
 * listens; a stream is forgotten when its client goes away (the response's `close`) or stops
 * reading (too many unsent bytes); `close()` ends every stream with an `end` event. The frames
 * themselves are the heartbeat: a dead peer shows up as a failed or piling-up write within a
 * second or two.
 */
export class EventStreamHub {
  private readonly sinks = new Set<EventSink>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly intervalMs: number;
  private readonly maxBufferedBytes: number;

  constructor(
    private readonly frame: () => unknown,
    private readonly options: EventStreamOptions,
    private readonly logger: Logger,
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  }

  /** Streams open now. */
  get subscribers(): number {
    return this.sinks.size;
  }

  /** Whether one more stream would be taken. */
  hasRoom(): boolean {
    return !this.closed && this.sinks.size < this.options.maxSubscribers;
  }

  /** Takes a stream whose headers are sent; false (nothing written) when full or closed. */
  subscribe(sink: EventSink): boolean {
    if (!this.hasRoom()) return false;
    this.sinks.add(sink);
    sink.once('close', () => this.forget(sink));
    sink.write(`retry: ${RECONNECT_DELAY_MS}\n\n`);
    const data = this.encode();
    if (data !== undefined) this.send(sink, data);
    this.timer ??= setInterval(() => this.broadcast(), this.intervalMs).unref();
    return true;
  }

  /** Sends a frame now, between ticks (a shutdown phase just ended, readiness changed). */
  push(): void {
    if (this.sinks.size > 0) this.broadcast();
  }

  /** Sends a last frame and an `end` event to every stream and ends it; refuses new ones. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const data = this.sinks.size > 0 ? this.encode() : undefined;
    for (const sink of [...this.sinks]) {
      this.sinks.delete(sink);
      if (data !== undefined) sink.write(data);
      sink.end('event: end\ndata: {"reason":"shutdown"}\n\n');
    }
    this.stopTimer();
  }

  private broadcast(): void {
    const data = this.encode();
    if (data === undefined) return;
    for (const sink of [...this.sinks]) this.send(sink, data);
  }

  private send(sink: EventSink, data: string): void {
    if (sink.writableLength > this.maxBufferedBytes) {
      this.logger.warn({ bufferedBytes: sink.writableLength }, 'dashboard stream dropped: the client stopped reading');
      this.forget(sink);
      sink.destroy();
      return;
    }
    sink.write(data);
  }

  /** One frame as an SSE event, or undefined (logged) if it could not be built. */
  private encode(): string | undefined {
    try {
      return `data: ${JSON.stringify(this.frame())}\n\n`;
    } catch (err) {
      this.logger.error({ err }, 'dashboard frame failed');
      return undefined;
    }
  }

  private forget(sink: EventSink): void {
    if (this.sinks.delete(sink) && this.sinks.size === 0) this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
