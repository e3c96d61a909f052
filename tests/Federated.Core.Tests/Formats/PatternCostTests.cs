using System.Text.Json;
using Federated.Core.Adapters;
using Federated.Core.Formats;
using Federated.Core.Formats.Peft;
using Federated.Core.Formats.Safetensors;
using Xunit.Abstractions;

namespace Federated.Core.Tests.Formats;

/// <summary>
/// An upload's own PEFT config says which rank_pattern / alpha_pattern regexes every module is matched against: their
/// number, length and engine are bounded, and where the base model is known only its layers are matched at all.
/// </summary>
public sealed class PatternCostTests(ITestOutputHelper output)
{
    /// <summary>Nested quantifiers that a backtracking engine takes exponential time on when the match fails.</summary>
    static string Pathological(int i) => $"((.*)*(.*)*)*layers\\.{i}\\.no_such_proj";

    static readonly IReadOnlyList<ModuleShape> Manifest = ModuleShape.LlamaFamily(32, 32, ["q_proj", "k_proj", "v_proj", "o_proj"]);

    /// <summary>A valid payload of the manifest's 128 modules whose config carries <paramref name="rankPattern"/> (all rank 4, so none may match).</summary>
    static byte[] Payload(IEnumerable<string> rankPattern, IReadOnlyList<ModuleShape>? shapes = null)
    {
        using var adapter = RandomAdapters.Create(shapes ?? Manifest, rank: 4, alpha: 8, seed: 1, baseModel: "tiny-llama");
        var bytes = AdapterPayload.ToBytes(adapter);
        using var file = SafetensorsReader.Read(new MemoryStream(bytes));
        var metadata = file.Metadata.ToDictionary();
        var config = PeftAdapterConfig.Parse(metadata[AdapterPayload.ConfigMetadataKey]);
        config.RankPattern = new(rankPattern.Select(k => KeyValuePair.Create(k, 64)));
        metadata[AdapterPayload.ConfigMetadataKey] = config.ToJson();
        using var buffer = new MemoryStream();
        SafetensorsWriter.Write(buffer, file.Tensors, metadata);
        return buffer.ToArray();
    }

    (T Result, TimeSpan Cpu) Measure<T>(Func<T> action)
    {
        var before = ThreadCpu.Now();
        var result = action();
        var cpu = ThreadCpu.Now() - before;
        output.WriteLine($"CPU: {cpu.TotalMilliseconds:F0} ms");
        return (result, cpu);
    }

    [Fact]
    public void Thousands_of_pathological_rank_pattern_keys_are_refused_in_milliseconds()
    {
        var many = Payload(Enumerable.Range(0, 5000).Select(Pathological));
        output.WriteLine($"payload: {many.Length:N0} bytes");
        var (e, cpu) = Measure(() => Assert.ThrowsAny<AdapterFormatException>(() => AdapterPayload.Describe(many, many.Length)));
        Assert.Contains("rank_pattern has 5000 keys, more than the 1024 accepted", e.Message);
        Assert.True(cpu < TimeSpan.FromSeconds(1), $"{cpu}");

        var regexes = Payload(Enumerable.Range(0, 40).Select(Pathological));
        Assert.Contains("more than 32 regular-expression keys", Assert.ThrowsAny<AdapterFormatException>(() => AdapterPayload.Describe(regexes, regexes.Length)).Message);
        var longKey = Payload([new string('a', 300)]);
        Assert.Contains("has 300 characters", Assert.ThrowsAny<AdapterFormatException>(() => AdapterPayload.Describe(longKey, longKey.Length)).Message);
    }

    [Fact]
    public void The_costliest_config_accepted_matches_every_module_in_well_under_a_second()
    {
        // The limits at their maximum: 32 pathological regexes and 992 module-path keys, none matching, for 128 modules.
        var keys = Enumerable.Range(0, 32).Select(Pathological)
            .Concat(Enumerable.Range(0, 992).Select(i => $"model.layers.{i + 100}.self_attn.q_proj"));
        var bytes = Payload(keys);
        output.WriteLine($"payload: {bytes.Length:N0} bytes");
        var known = Manifest.Select(m => m.Name).ToHashSet();

        var (description, cpu) = Measure(() => AdapterPayload.Describe(bytes, bytes.Length, knownModules: known));

        Assert.Equal(128, description.Modules.Count);
        Assert.All(description.Modules, m => Assert.Equal(4, m.Rank));
        Assert.True(cpu < TimeSpan.FromSeconds(1), $"{cpu}");
    }

    [Fact]
    public void Module_path_keys_match_as_peft_matches_them()
    {
        var pattern = new PeftPattern<int>([KeyValuePair.Create("layers.1.self_attn.q_proj", 2), KeyValuePair.Create("v_proj", 3), KeyValuePair.Create("k_pro.", 5)], "rank_pattern", "test");
        int Rank(string path) => pattern.TryMatch(path, out _, out var r) ? r : 0;
        Assert.Equal(2, Rank("model.layers.1.self_attn.q_proj"));
        Assert.Equal(0, Rank("model.layers.11.self_attn.q_proj")); // whole trailing segments only
        Assert.Equal(0, Rank("model.layers.0.self_attn.q_proj"));
        Assert.Equal(3, Rank("v_proj"));
        Assert.Equal(0, Rank("model.layers.0.self_attn.xv_proj"));
        Assert.Equal(5, Rank("model.layers.0.self_attn.k_proj")); // '.' is any character, as in the regex
    }

    [Fact]
    public void Modules_outside_the_base_model_are_refused_before_any_pattern_is_matched()
    {
        var wide = ModuleShape.LlamaFamily(32, 2, ["q_proj", "gate_proj"]);
        var bytes = Payload(Enumerable.Range(0, 32).Select(Pathological), wide);
        var known = ModuleShape.LlamaFamily(32, 2, ["q_proj"]).Select(m => m.Name).ToHashSet();
        var e = Assert.ThrowsAny<AdapterFormatException>(() => AdapterPayload.Describe(bytes, bytes.Length, knownModules: known));
        Assert.Contains("gate_proj' is not one of the base model's 2 target layers", e.Message);
    }
}

/// <summary>CPU time of the calling thread (Linux: /proc/thread-self/stat, in clock ticks of 10 ms), so parallel tests do not count.</summary>
static class ThreadCpu
{
    public static TimeSpan Now()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // After the command name: state is field 3, utime 14 and stime 15 (1-based), i.e. indexes 11 and 12 here.
        long ticks = long.Parse(fields[11]) + long.Parse(fields[12]);
        return TimeSpan.FromMilliseconds(ticks * 10);
    }
}
