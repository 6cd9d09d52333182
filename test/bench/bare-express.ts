import express from 'express';

/** The registrations baseline: a bare express route answering 200, nothing else. */
const app = express();
app.post('/v2/devices/:token/registrations/:websitePushID', (_req, res) => {
  res.status(200).end();
});
/** The subscriptions baseline: a route that parses the JSON body (express.json) and answers 201. */
app.post('/api/v1/subscriptions', express.json({ limit: '8kb' }), (_req, res) => {
  res.status(201).end();
});
/** The same without reading the body (Node discards it): reported beside the target. */
app.post('/api/v1/subscriptions-unread', (_req, res) => {
  res.status(201).end();
});
/** The events baseline: a route that parses the same batches (express.json) and answers 202. */
app.post('/api/v1/events', express.json({ limit: '4mb' }), (_req, res) => {
  res.status(202).end();
});
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`bare express listening on ${JSON.stringify(server.address())}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
