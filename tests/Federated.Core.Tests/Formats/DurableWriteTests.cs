using Federated.Core.Adapters;
using Federated.Core.Formats.Peft;
using Federated.Core.Formats.Safetensors;
using Federated.IO;

namespace Federated.Core.Tests.Formats;

/// <summary>Adapter files are replaced durably: flushed, renamed over the old file, then their directory flushed.</summary>
public sealed class DurableWriteTests : IDisposable
{
    readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    static LoraAdapter Adapter(int seed) => new(
    [
        new LoraModule("model.layers.0.self_attn.q_proj", TensorBytes.Random([4, 16], ScalarType.Float32, seed),
            TensorBytes.Random([12, 4], ScalarType.Float32, seed + 1), alpha: 8),
    ]);

    [Fact]
    public void A_PEFT_adapter_write_flushes_the_directory_after_renaming_each_file_and_leaves_no_temporary_file()
    {
        using var adapter = Adapter(seed: 1);
        var calls = new RecordingSystemCalls();
        using (FileSystemSync.Use(calls))
            PeftAdapterDirectory.Write(adapter, _dir.Path);

        calls.AssertReplacedDurably(Path.Combine(_dir.Path, PeftAdapterDirectory.WeightsFileName));
        calls.AssertReplacedDurably(Path.Combine(_dir.Path, PeftAdapterDirectory.ConfigFileName));
        Assert.Equal(6, calls.Calls.Count);
        Assert.Equal([PeftAdapterDirectory.ConfigFileName, PeftAdapterDirectory.WeightsFileName],
            Directory.GetFiles(_dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void A_safetensors_write_that_fails_to_rename_leaves_the_old_file()
    {
        string path = _dir.File("update.safetensors");
        using var old = TensorBytes.Random([3, 5], ScalarType.Float32, seed: 1);
        using var replacement = TensorBytes.Random([3, 5], ScalarType.Float32, seed: 2);
        SafetensorsWriter.Write(path, [("w", old)]);
        var calls = new RecordingSystemCalls { Fail = c => c.Kind == SystemCallKind.Rename };

        using (FileSystemSync.Use(calls))
            Assert.Throws<IOException>(() => SafetensorsWriter.Write(path, [("w", replacement)]));

        using var file = SafetensorsReader.Read(path);
        TensorBytes.AssertIdentical(old, file["w"]);
        Assert.Equal(["update.safetensors"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName));
    }
}
