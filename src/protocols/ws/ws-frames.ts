import type { Duplex } from 'node:stream';
import WebSocket from 'ws';

/**
 * Pre-framed sends. A broadcast frames its message once and writes the same bytes to every
 * client's socket, and the heartbeat writes one shared ping frame, instead of letting `ws` frame
 * (and allocate) per client. This leans on two internals of `ws` 8 that have been stable since
 * 2017: `Sender.frame` (a documented public static) and the `_sender` / `_socket` fields of a
 * `WebSocket`. When they are missing, or a socket's sender is busy (compressing, streaming a
 * fragmented message), the caller falls back to the public `send` / `ping`.
 */

interface SenderInternals {
  /** 0 (DEFAULT) when nothing is queued behind a deflate or blob read. */
  _state: number;
  /** False between the fragments of a message sent with `fin: false`. */
  _firstFragment: boolean;
}

/** The internals of a `ws` WebSocket that a pre-framed write needs. */
interface WebSocketInternals {
  _sender?: SenderInternals | null;
  _socket?: Duplex | null;
}

type FrameFn = (data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }) => Buffer[];

const senderFrame: FrameFn | undefined = (() => {
  const sender = (WebSocket as unknown as { Sender?: { frame?: FrameFn } }).Sender;
  return typeof sender?.frame === 'function' ? sender.frame.bind(sender) : undefined;
})();

const OPCODE_TEXT = 0x1;
const OPCODE_BINARY = 0x2;
const SENDER_IDLE = 0;

/** Whether this `ws` exposes what pre-framed writes need. */
export const PREFRAMED_WRITES = senderFrame !== undefined;

/** An unmasked server ping frame with no payload (FIN + opcode 0x9, length 0). */
export const PING_FRAME: Buffer = Buffer.from([0x89, 0x00]);

/** Payload bytes of a message, as `ws` would send them. */
export function toPayload(data: string | Buffer | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === 'string') return Buffer.from(data);
  if (Buffer.isBuffer(data)) return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** One complete, unmasked, uncompressed frame for `payload`, or `undefined` if `ws` cannot frame it for us. */
export function frameMessage(payload: Buffer, binary: boolean): Buffer | undefined {
  if (!senderFrame) return undefined;
  const parts = senderFrame(payload, { fin: true, opcode: binary ? OPCODE_BINARY : OPCODE_TEXT, mask: false, readOnly: false, rsv1: false });
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/**
 * Writes an already framed message straight to the socket of an open `ws`, if its sender has
 * nothing of its own in progress (else the frame could land inside another message). Returns
 * false when the caller must use the public API instead.
 */
export function writeFrame(ws: WebSocket, frame: Buffer): boolean {
  const internals = ws as unknown as WebSocketInternals;
  const sender = internals._sender;
  const socket = internals._socket;
  if (!sender || !socket || sender._state !== SENDER_IDLE || sender._firstFragment !== true) return false;
  socket.write(frame);
  return true;
}
