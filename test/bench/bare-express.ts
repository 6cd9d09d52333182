import express from 'express';

/** The registrations baseline: a bare express route answering 200, nothing else. */
const app = express();
app.post('/v2/devices/:token/registrations/:websitePushID', (_req, res) => {
  res.status(200).end();
});
/** The subscriptions baseline: the same, answering 201. */
app.post('/api/v1/subscriptions', (_req, res) => {
  res.status(201).end();
});
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`bare express listening on ${JSON.stringify(server.address())}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
