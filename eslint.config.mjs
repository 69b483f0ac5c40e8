// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.cache/**', 'bench/results/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error'],
    },
  },
  {
    files: ['samples/**/*.ts', 'bench/**/*.ts', 'bench/**/*.js', 'test/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    // The dashboard page's script runs in the browser, as a classic script.
    files: ['src/observability/dashboard/assets/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(
        ['window', 'document', 'fetch', 'getComputedStyle', 'setTimeout', 'clearTimeout', 'TextDecoder', 'Intl', 'Map', 'Set'].map((name) => [name, 'readonly']),
      ),
    },
    rules: { '@typescript-eslint/no-unused-vars': ['error', { args: 'none' }] },
  },
);
