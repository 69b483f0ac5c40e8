import type { RawData, WebSocket } from 'ws';
import { PoolConfig, UsePool, WebSocketConnectionPool, WebSocketPoolConfig, WebSocketServer } from '../../src';

/** The sample's WebSocket server: echoes every message back, text as text, binary as binary. */
@UsePool(WebSocketConnectionPool)
export class WsEchoServer extends WebSocketServer {
  constructor(@PoolConfig(WebSocketPoolConfig, 'ws') config: WebSocketPoolConfig) {
    super(config);
  }

  onMessage(socket: WebSocket, data: RawData, isBinary: boolean): void {
    this.send(socket, data as Buffer, isBinary);
  }
}
