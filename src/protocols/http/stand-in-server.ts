import * as http from 'node:http';
import { LifecycleStateError } from '../../errors';

/**
 * The node server a framework's `serverFactory` gets back (Fastify's): the framework keeps it as
 * its `server`, but the unipool server that made it listens, admits, times out and drains, so
 * this one never listens. Unlistened, it holds no handle; `listen` throws, naming what to call
 * instead.
 */
export class StandInServer extends http.Server {
  constructor(private readonly owner: string) {
    super();
  }

  override listen(): never {
    throw new LifecycleStateError(`${this.owner} listens itself: call \`await fastify.ready()\` in onInit, and never fastify.listen()`);
  }
}
