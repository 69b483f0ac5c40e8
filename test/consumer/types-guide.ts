import 'reflect-metadata';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Application, GrpcConnectionPool, GrpcPoolConfig, HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool } from 'unipool';

// The README's "types that guide", checked against the published declarations: compiled by the
// consumer test with the project's single tsc run, never run. Each `@ts-expect-error` is a
// misuse tsc must reject (an unused one fails the compile, TS2578).

/** A pool subclass with a member of its own, so only its exact type has `label`. */
export class LabelledPool extends HttpConnectionPool {
  readonly label = 'labelled' as const;
}

@UsePool(LabelledPool)
export class LabelledApi extends HttpServer<LabelledPool> {
  handle(_req: IncomingMessage, res: ServerResponse) {
    res.end(this.pool.label);
  }
}

// issue 12 types: app.server(X).pool is X's pool class, no cast.
export function poolOf(app: Application): 'labelled' {
  const pool: LabelledPool = app.server(LabelledApi).pool;
  return pool.label;
}

// @ts-expect-error GrpcConnectionPool is not the pool of an HttpServer
@UsePool(GrpcConnectionPool)
export class GrpcPoolOnHttp extends HttpServer {
  handle(_req: IncomingMessage, res: ServerResponse) {
    res.end();
  }
}

// @ts-expect-error 'nosuchsection' is not a declared section (declare it in UnipoolSections)
@UsePool(HttpConnectionPool, 'nosuchsection')
export class UndeclaredSection extends HttpServer {
  handle(_req: IncomingMessage, res: ServerResponse) {
    res.end();
  }
}

@UsePool(HttpConnectionPool)
export class GrpcConfigOnHttp extends HttpServer {
  // @ts-expect-error GrpcPoolConfig is not the config of section 'http'
  constructor(@PoolConfig(GrpcPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }

  handle(_req: IncomingMessage, res: ServerResponse) {
    res.end();
  }
}
