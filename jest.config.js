const path = require('node:path');

// The APNs stand-in's certificate is trusted the way a deployment trusts one: NODE_EXTRA_CA_CERTS,
// which Node reads when a process starts. Workers are forked after this line, so they inherit it;
// workerIdleMemoryLimit makes jest always use workers, even for a single test file.
process.env.NODE_EXTRA_CA_CERTS = path.join(__dirname, 'test/fixtures/apns-stand-in/ca.pem');

/** Tests run the TypeScript sources directly; `npm test` type-checks them first with tsc. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': 'ts-jest',
  },
  testTimeout: 60000,
  maxWorkers: 2,
  workerIdleMemoryLimit: '1GB',
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
};
