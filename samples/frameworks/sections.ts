import type { HttpPoolConfig } from '../../src';

// The sample's own sections (FRAMEWORK_SECTIONS in app.ts), declared once for the decorators'
// types, as an application declares its own: `@PoolConfig(HttpPoolConfig, 'express')` compiles.
declare module '../../src' {
  interface UnipoolSections {
    express: HttpPoolConfig;
    koa: HttpPoolConfig;
    fastify: HttpPoolConfig;
  }
}
