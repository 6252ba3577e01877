import {strict as assert} from 'node:assert'

import {fleetOnReplicatedRedis} from '../helpers/redis-fleet.js'
import {type RedisClusterSet, requireRedisCluster} from '../helpers/redis-topologies.js'

describe('a fleet on Redis Cluster (end to end: three masters and three replicas, real redis-server)', function () {
  this.timeout(180_000)
  fleetOnReplicatedRedis({
    async reached(topology, location) {
      const masters = await (topology as RedisClusterSet).masters()
      assert.match(location, /\(Cluster of 3 masters: /)
      for (const master of masters) assert.match(location, new RegExp(`${master.address.replaceAll('.', '\\.')} \\(slots [\\d,-]+, 1 replica\\)`))
    },
    start: requireRedisCluster,
    topologyName: 'Cluster',
  })
})
