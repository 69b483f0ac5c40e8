import type { AddressInfo } from 'node:net';
import type { ServerPoolSettings } from '../../src/config/pool-config';
import { ManagedServer } from '../../src/core/managed-server';
import { FakePool } from './fake-pool';

/** A server with no socket: listening only flips the pool's flag. Subclass and decorate it in tests. */
export abstract class FakeServerBase extends ManagedServer<FakePool, ServerPoolSettings> {
  static override readonly poolType = FakePool;
  /** Every lifecycle call, in order, shared by all fake servers of a test. */
  static calls: string[] = [];
  private listening = false;

  protected note(what: string): void {
    FakeServerBase.calls.push(`${this.name}.${what}`);
  }

  async listen(): Promise<void> {
    this.note('listen');
    this.listening = true;
    this.pool.setListening(true);
  }

  async stopAccepting(): Promise<void> {
    this.note('stopAccepting');
    this.pool.setListening(false);
  }

  async close(): Promise<void> {
    this.note('close');
    this.listening = false;
  }

  address(): AddressInfo | undefined {
    return this.listening ? { address: '127.0.0.1', family: 'IPv4', port: 0 } : undefined;
  }
}
