using System.Security.Cryptography;
using Federated.Agent.Rounds;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using static TorchSharp.torch;

namespace Federated.Agent.Tests.Unit;

/// <summary>The update file a round writes: streamed and hashed on the way, and read back tensor by tensor.</summary>
public sealed class UpdateFileTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("fed-agent-update-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static LoraAdapter Adapter(int rank, long inFeatures, int outFeatures, int seed)
    {
        var generator = new Generator((ulong)seed);
        return new LoraAdapter(Enumerable.Range(0, 2).Select(i => new LoraModule($"model.layers.{i}.self_attn.q_proj",
            randn([rank, inFeatures], generator: generator), randn([outFeatures, rank], generator: generator), alpha: 2 * rank)), "base");
    }

    [Fact]
    public void A_plain_update_file_is_the_payload_and_its_hash_and_size_are_those_of_its_bytes()
    {
        using var adapter = Adapter(rank: 4, inFeatures: 300, outFeatures: 200, seed: 1);
        string path = Path.Combine(_dir, "update.safetensors");

        var written = UpdateFile.Write(path, adapter, compression: null, roundSeed: 1);

        var bytes = File.ReadAllBytes(path);
        Assert.Equal(AdapterPayload.ToBytes(adapter), bytes);
        Assert.Equal((Convert.ToHexStringLower(SHA256.HashData(bytes)), (long)bytes.Length), (written.Sha256, written.Size));
        Assert.Null(written.Compression);
    }

    /// <summary>2.15 GB of factors: past what a byte array holds. Written, hashed and read back without one.</summary>
    [Fact]
    public void An_update_over_2_GiB_is_written_hashed_and_read_back()
    {
        using var adapter = Adapter(rank: 8, inFeatures: 1L << 25, outFeatures: 4, seed: 2);
        string path = Path.Combine(_dir, "large.safetensors");

        var written = UpdateFile.Write(path, adapter, compression: null, roundSeed: 1);

        Assert.True(written.Size > int.MaxValue, $"{written.Size:N0} bytes");
        Assert.Equal(new FileInfo(path).Length, written.Size);
        using (var file = File.OpenRead(path))
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(file)), written.Sha256);
        using var read = AdapterPayload.ReadFile(path);
        foreach (var (expected, actual) in adapter.Modules.Zip(read.Modules))
        {
            Assert.Equal(expected.Name, actual.Name);
            Assert.True(expected.A.equal(actual.A).all().item<bool>() && expected.B.equal(actual.B).all().item<bool>(), $"{expected.Name} differs after the round trip");
        }
    }
}
