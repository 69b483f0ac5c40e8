import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { Http2ConnectionPool, Http2PoolConfig, Http2Server, PoolConfig, UsePool } from '../../src';
import { handleDemoRequest } from './demo-routes';

/** The sample's HTTP/2 server: the same routes as HTTPS, over HTTP/2 (and HTTP/1.1 for clients without ALPN h2). */
@UsePool(Http2ConnectionPool)
export class Http2ApiServer extends Http2Server {
  constructor(@PoolConfig(Http2PoolConfig, 'http2') config: Http2PoolConfig) {
    super(config);
  }

  handle(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
    // node's compatibility API: the HTTP/2 request and response work as the HTTP/1.1 ones do here.
    handleDemoRequest(req as IncomingMessage, res as ServerResponse);
  }
}
