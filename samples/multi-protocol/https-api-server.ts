import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpsConnectionPool, HttpsPoolConfig, HttpsServer, PoolConfig, UsePool } from '../../src';
import { handleDemoRequest } from './demo-routes';

/** The sample's HTTPS server: the same routes as HTTP, over TLS. */
@UsePool(HttpsConnectionPool)
export class HttpsApiServer extends HttpsServer {
  constructor(@PoolConfig(HttpsPoolConfig, 'https') config: HttpsPoolConfig) {
    super(config);
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    handleDemoRequest(req, res);
  }
}
