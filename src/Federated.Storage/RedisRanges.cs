using System.Buffers;
using StackExchange.Redis;

namespace Federated.Storage;

/// <summary>
/// GETRANGE with its reply left in StackExchange.Redis's pooled buffer for the caller to copy out: no array per read for the
/// garbage collector to zero and collect (a round's aggregation and its downloads each read gigabytes this way).
/// </summary>
static class RedisRanges
{
    /// <summary>Bytes [start, start + length) of a string key; the reply must be disposed.</summary>
    public static Task<RespResult> GetRangeAsync(IDatabase db, RedisKey key, long start, int length) =>
        db.ExecuteRespAsync("GETRANGE", new RedisKeyOrValue[] { key, (RedisValue)start, (RedisValue)(start + length - 1) });

    /// <summary>
    /// The reply's bytes when it holds exactly <paramref name="length"/> of them (a key gone or shorter does not): a span over
    /// the client's buffer, or over <paramref name="rented"/> (from the shared pool; the caller returns it) where the reply is
    /// not contiguous there.
    /// </summary>
    public static bool TryGetBytes(RespResult reply, int length, out ReadOnlySpan<byte> bytes, ref byte[]? rented)
    {
        bytes = default;
        if (reply.IsNull) return false;
        var reader = reply.ReadScalar();
        if (reader.ScalarLength() != length) return false;
        if (reader.TryGetSpan(out bytes)) return true;
        rented ??= ArrayPool<byte>.Shared.Rent(length);
        if (rented.Length < length)
        {
            ArrayPool<byte>.Shared.Return(rented);
            rented = ArrayPool<byte>.Shared.Rent(length);
        }
        bytes = rented.AsSpan(0, reader.CopyTo(rented.AsSpan(0, length)));
        return true;
    }
}
