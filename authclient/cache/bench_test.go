package cache_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/outpost-go/outposts/authclient/cache"
)

// The benchmarks mirror `redis-benchmark -t get,set -d 3`, so that
// scripts/bench can put them side by side: a 3-byte value under one key,
// one caller at a time (-c 1), or benchParallelClients callers (-c 50).
const benchParallelClients = 50

var benchValue = []byte("xxx")

func benchMemory(b *testing.B) cache.Cache {
	m := cache.NewMemory(cache.DefaultMaxEntries)
	m.Set(context.Background(), "key", benchValue, time.Hour)
	return m
}

// benchRedis returns the Redis cache as New would configure it, with a pool
// large enough for the parallel benchmarks.
func benchRedis(b *testing.B) (*cache.Redis, *redis.Client) {
	client := sharedRedis(b, &redis.Options{PoolSize: benchParallelClients, MaxRetries: -1})
	// The timeout does not change the cost of a call; a long one keeps a
	// busy machine from failing the parallel runs.
	r := cache.NewRedis(client, cache.RedisOptions{Prefix: uniquePrefix(b, client), Timeout: time.Second})
	r.Set(context.Background(), "key", benchValue, time.Hour)
	return r, client
}

func benchGet(b *testing.B, c cache.Cache) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Get(ctx, "key"); !ok {
			b.Fatal("miss")
		}
	}
}

func benchSet(b *testing.B, c cache.Cache) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.Set(ctx, "key", benchValue, time.Hour)
	}
}

// benchParallel runs op from benchParallelClients goroutines, like
// redis-benchmark -c 50.
func benchParallel(b *testing.B, op func(ctx context.Context)) {
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(max(1, benchParallelClients/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			op(ctx)
		}
	})
}

func BenchmarkMemoryGet(b *testing.B) { benchGet(b, benchMemory(b)) }
func BenchmarkMemorySet(b *testing.B) { benchSet(b, benchMemory(b)) }

func BenchmarkMemoryGetParallel(b *testing.B) {
	c := benchMemory(b)
	benchParallel(b, func(ctx context.Context) { c.Get(ctx, "key") })
}

func BenchmarkMemorySetParallel(b *testing.B) {
	c := benchMemory(b)
	benchParallel(b, func(ctx context.Context) { c.Set(ctx, "key", benchValue, time.Hour) })
}

func BenchmarkRedisGet(b *testing.B) {
	r, _ := benchRedis(b)
	benchGet(b, r)
}

func BenchmarkRedisSet(b *testing.B) {
	r, _ := benchRedis(b)
	benchSet(b, r)
}

func BenchmarkRedisGetParallel(b *testing.B) {
	r, _ := benchRedis(b)
	benchParallel(b, func(ctx context.Context) {
		if _, _, err := r.GetErr(ctx, "key"); err != nil {
			b.Error(err)
		}
	})
}

func BenchmarkRedisSetParallel(b *testing.B) {
	r, _ := benchRedis(b)
	benchParallel(b, func(ctx context.Context) {
		if err := r.SetErr(ctx, "key", benchValue, time.Hour); err != nil {
			b.Error(err)
		}
	})
}

// BenchmarkRedisClientGet is go-redis alone, to show what this package adds
// on top (envelope, key prefix, the timeout guard).
func BenchmarkRedisClientGet(b *testing.B) {
	_, client := benchRedis(b)
	ctx := context.Background()
	client.Set(ctx, "cachetest:bench:raw", benchValue, time.Minute)
	b.Cleanup(func() { client.Del(context.Background(), "cachetest:bench:raw") })
	b.ReportAllocs()
	for b.Loop() {
		if err := client.Get(ctx, "cachetest:bench:raw").Err(); err != nil {
			b.Fatal(err)
		}
	}
}
