import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as http2 from 'node:http2';
import { benchHandler } from './handlers';

export type AnyRequest = IncomingMessage | http2.Http2ServerRequest;
export type AnyResponse = ServerResponse | http2.Http2ServerResponse;

/** The bench handler takes node's HTTP/1.1 types; the compatibility API answers the same calls. */
export const handler = benchHandler as unknown as (req: AnyRequest, res: AnyResponse) => void;
