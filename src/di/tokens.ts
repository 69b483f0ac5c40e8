/** Metadata key under which `@UsePool` records the pool class of a server class. */
export const USE_POOL_METADATA = Symbol.for('unipool:usePool');
/** Metadata key under which `@PoolConfig` records the config sections a constructor takes. */
export const POOL_CONFIG_METADATA = Symbol.for('unipool:poolConfig');

/** Container token of the logger. */
export const LOGGER = Symbol.for('unipool:logger');

const configTokens = new Map<string, symbol>();

/** Container token of one validated config section. */
export function configToken(section: string): symbol {
  let token = configTokens.get(section);
  if (!token) {
    token = Symbol.for(`unipool:config:${section}`);
    configTokens.set(section, token);
  }
  return token;
}

/** Metadata key under which `@UsePool` records the section a server reads when no constructor parameter takes it. */
export const CONFIG_SECTION_METADATA = Symbol.for('unipool:configSection');
