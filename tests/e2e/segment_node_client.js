// Sends the events the e2e test names with Segment's official Node SDK, unchanged but
// for its host: node segment_node_client.js (env: WRITE_KEY, HOST, ANONYMOUS_ID, USER_ID, EMAIL).
const { Analytics } = require('@segment/analytics-node')

const env = process.env
const analytics = new Analytics({ writeKey: env.WRITE_KEY, host: env.HOST, flushAt: 10, maxRetries: 2 })
const failures = []
analytics.on('error', (err) => failures.push(String(err && (err.reason || err.message || err))))

analytics.identify({ anonymousId: env.ANONYMOUS_ID, traits: { email: env.EMAIL, plan: 'pro' } })
analytics.page({ anonymousId: env.ANONYMOUS_ID, name: 'March Madness Deals', properties: { path: '/deals' } })
analytics.alias({ userId: env.USER_ID, previousId: env.ANONYMOUS_ID })
analytics.track({ userId: env.USER_ID, event: 'Order Completed', properties: { total: 42 } })

analytics.closeAndFlush({ timeout: 20000 }).then(() => {
  if (failures.length) {
    console.error(JSON.stringify(failures))
    process.exit(1)
  }
  console.log('sent')
})
