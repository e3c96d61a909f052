using Federated.Training.Rounds;
using System.Security.Cryptography;
using Federated.Agent.Rounds;
using Federated.Core.Compression;
using Federated.Core.Formats;
using Federated.Training.Training;
using static TorchSharp.torch;

namespace Federated.Agent.Tests.Unit;

/// <summary>
/// The update file a round writes with Agent:UploadCompression=int8: the same training as a float32 round (same seed), so the
/// float32 file is the trained adapter to compare against.
/// </summary>
public sealed class CompressedUpdateTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("fed-agent-compress-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void An_int8_update_file_decompresses_within_one_quantization_step_per_row_at_under_a_third_of_float32()
    {
        string modelDir = TestFiles.TinyModel(Path.Combine(_dir, "model"));
        string data = TestFiles.TextSlice(Path.Combine(_dir, "data.txt"), "GPL-3", 0, 3000);
        using var model = LocalModel.Load(modelDir, data, evalData: null, maxSequenceLength: 64, CPU);
        // Rank 8 on the tiny model's 64-wide projections: B's rows hold 8 entries, so its per-row float32 scale costs 4 of 12 bytes.
        var plan = new ClientRoundTask(["q_proj", "v_proj"], Rank: 8, Alpha: 16, Dropout: 0, Steps: 3, BatchSize: 4,
            LearningRate: 0.01, Seed: 5, BaseModel: "tiny-llama");
        var plain = model.Train(plan, Path.Combine(_dir, "plain.safetensors"), new Progress<TrainingProgress>(), CancellationToken.None);
        var int8 = model.Train(plan, Path.Combine(_dir, "int8.safetensors"), new Progress<TrainingProgress>(), CancellationToken.None,
            new UploadCompression("int8", 0.1));

        // What is uploaded and resumed is the file: its hash and size are of the compressed bytes.
        byte[] bytes = File.ReadAllBytes(int8.Path);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), int8.Sha256);
        Assert.Equal(bytes.Length, int8.Size);
        Assert.Null(plain.Compression);
        using (var file = CompressedAdapterFile.Read(int8.Path))
            Assert.Equal(CompressionScheme.Int8, file.Scheme);

        // Stochastic rounding moves each entry to one of its two neighbouring levels: an error below one step, max|row| / 127.
        using var trained = AdapterPayload.Read(File.ReadAllBytes(plain.Path));
        using var uploaded = AdapterPayload.Read(bytes); // the coordinator's reader
        Assert.Equal(trained.Modules.Select(m => (m.Name, m.Rank, m.Alpha)), uploaded.Modules.Select(m => (m.Name, m.Rank, m.Alpha)));
        Assert.Equal(trained.BaseModel, uploaded.BaseModel);
        foreach (var (t, u) in trained.Modules.Zip(uploaded.Modules))
        {
            foreach (var (x, y) in new[] { (t.A, u.A), (t.B, u.B) })
            {
                using var scope = NewDisposeScope();
                var step = x.to(float64).abs().amax(1) / 127;
                var error = (y.to(float64) - x.to(float64)).abs().amax(1);
                Assert.True((error <= step * (1 + 1e-4) + 1e-12).all().item<bool>(), $"{t.Name}: a row errs by more than one int8 step");
                // Measured 0.4-0.6% relative (Frobenius) error per factor.
                double relative = ((y.to(float64) - x.to(float64)).norm() / x.to(float64).norm()).item<double>();
                Assert.True(relative < 0.01, $"{t.Name}: relative error {relative:E2}");
            }
        }

        // Payload bytes: A's rows (64 entries) cost 68 of 256 bytes, B's (8 entries) 12 of 32; 0.3125 overall here.
        var stats = int8.Compression!.Value;
        Assert.InRange(stats.Ratio, 0.25, 0.32);
        // The whole file, JSON header included, against the float32 file (measured 6,856 of 15,992 bytes, 0.429): the header
        // is a large share of so tiny an adapter.
        double fileRatio = (double)int8.Size / plain.Size;
        Assert.True(fileRatio < 0.45, $"the int8 file is {int8.Size:N0} bytes, {fileRatio:F3} of the float32 file's {plain.Size:N0}");
    }
}
