import type { Logger } from '../../core/logger';

/** The part of an `http.ServerResponse` (headers already sent) the hub writes Server-Sent Events to. */
export interface EventSink {
  /**
   * Bytes queued in node, not yet taken by the kernel. It grows only once the kernel's own send
   * buffer (and the peer's receive window) is full, which takes MBs on a fast link.
   */
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
  /** Unsent bytes a stream may queue in node before it is dropped at once as a client that stopped reading. Default 256 KiB. */
  maxBufferedBytes?: number;
  /**
   * A stream that still had unsent bytes queued in node at every frame for this long (ms) is dropped:
   * its client stopped reading or vanished without a RST (the kernel buffers are full). Default 15 s.
   */
  stallTimeoutMs?: number;
}

/** How long a browser waits before reconnecting a dropped stream (ms), sent as the SSE `retry` field. */
const RECONNECT_DELAY_MS = 2000;
const DEFAULT_INTERVAL_MS = 1000;
const DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024;
const DEFAULT_STALL_TIMEOUT_MS = 15_000;

/**
 * Server-Sent Events to a bounded set of subscribers: one frame at once on subscribe, then one per
 * interval, each frame built once and written to every stream. The timer runs only while someone
 * listens; a stream is forgotten when its client goes away (the response's `close`) or stops
 * reading; `close()` ends every stream with an `end` event for good, `endStreams()` ends the open
 * ones and keeps serving (the admin token changed).
 *
 * A client that stops reading is seen late: node hands every write to the kernel until the
 * kernel's send buffer and the peer's receive window are full (MBs on a fast link), and a peer
 * that vanished without a RST leaves the writes unacknowledged for the TCP retransmission timeout
 * (~15 min). So a stream is dropped when node's own queue passes `maxBufferedBytes`, or when it
 * has stayed non-empty at every frame for `stallTimeoutMs`; the admin server also turns TCP
 * keep-alive on, which ends an idle connection to a vanished peer.
 */
export class EventStreamHub {
  /** Each open stream, with when a frame first found unsent bytes queued (undefined: none queued). */
  private readonly sinks = new Map<EventSink, { stalledSince: number | undefined }>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly intervalMs: number;
  private readonly maxBufferedBytes: number;
  private readonly stallTimeoutMs: number;

  constructor(
    private readonly frame: () => unknown,
    private readonly options: EventStreamOptions,
    private readonly logger: Logger,
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
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
    this.sinks.set(sink, { stalledSince: undefined });
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
    this.endAll('shutdown', data);
  }

  /**
   * Ends every open stream with an `end` event naming `reason` and keeps taking new ones: the
   * admin token changed, so a stream opened under the old one (or with none) must ask again.
   */
  endStreams(reason: string): void {
    this.endAll(reason, undefined);
  }

  private endAll(reason: string, lastFrame: string | undefined): void {
    const end = `event: end\ndata: ${JSON.stringify({ reason })}\n\n`;
    for (const sink of [...this.sinks.keys()]) {
      this.sinks.delete(sink);
      if (lastFrame !== undefined) sink.write(lastFrame);
      sink.end(end);
    }
    this.stopTimer();
  }

  private broadcast(): void {
    const data = this.encode();
    if (data === undefined) return;
    for (const sink of [...this.sinks.keys()]) this.send(sink, data);
  }

  private send(sink: EventSink, data: string): void {
    const queued = sink.writableLength;
    const state = this.sinks.get(sink);
    if (!state) return;
    const now = Date.now();
    if (queued === 0) state.stalledSince = undefined;
    else state.stalledSince ??= now;
    if (queued > this.maxBufferedBytes || (state.stalledSince !== undefined && now - state.stalledSince >= this.stallTimeoutMs)) {
      this.logger.warn({ bufferedBytes: queued, stalledMs: now - (state.stalledSince ?? now) }, 'dashboard stream dropped: the client stopped reading');
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
