using System.CommandLine;
using Federated.Core.Adapters;
using Federated.Core.Compression;
using Federated.Core.Formats.Peft;

namespace Federated.Cli.Commands;

/// <summary><c>fed adapters random|compress|download</c> (alias <c>fed adapter</c>): synthetic adapters, compressed uploads, global adapters.</summary>
static class AdaptersCommand
{
    public static Command Create()
    {
        var rank = new Option<int>("--rank", "-r") { Description = "LoRA rank", Required = true };
        var modules = new Option<string[]>("--modules", "-m")
        {
            Description = "Target modules, e.g. q_proj,v_proj (any of q_proj k_proj v_proj o_proj gate_proj up_proj down_proj)",
            DefaultValueFactory = _ => ["q_proj", "v_proj"],
            AllowMultipleArgumentsPerToken = true,
        };
        var hidden = new Option<int>("--hidden") { Description = "Hidden size of the model", DefaultValueFactory = _ => 896 };
        var layers = new Option<int>("--layers") { Description = "Number of decoder layers", DefaultValueFactory = _ => 24 };
        var kvDim = new Option<int?>("--kv-dim") { Description = "Output size of k_proj/v_proj (default: 128 when hidden is 896, else hidden)" };
        var intermediate = new Option<int?>("--intermediate") { Description = "MLP size (default: 4864 when hidden is 896, else 4 x hidden)" };
        var alpha = new Option<double?>("--alpha") { Description = "lora_alpha (default: 2 x rank)" };
        var seed = new Option<long>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 0 };
        var rsLora = new Option<bool>("--rslora") { Description = "Use rsLoRA scaling alpha / sqrt(r)" };
        var dtype = CommandOptions.DType("Dtype of the factors (default: float32)");
        var baseModel = new Option<string?>("--base-model") { Description = "base_model_name_or_path to record", DefaultValueFactory = _ => "Qwen/Qwen2-0.5B" };
        var output = CommandOptions.Out("Directory to write the adapter to (PEFT format)");

        var random = new Command("random", "Write a seeded random adapter, shaped like a Llama-family model (default: Qwen2-0.5B, 24 layers, hidden 896)")
        {
            rank, modules, hidden, layers, kvDim, intermediate, alpha, seed, rsLora, dtype, baseModel, output,
        };
        random.SetAction(parse =>
        {
            int r = parse.GetValue(rank), h = parse.GetValue(hidden), l = parse.GetValue(layers);
            if (r <= 0 || h <= 0 || l <= 0)
                throw new ArgumentException("--rank, --hidden and --layers must be positive");
            bool qwen05 = h == 896;
            var targets = parse.GetValue(modules)!.SelectMany(m => m.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            var shapes = ModuleShape.LlamaFamily(h, l, targets,
                parse.GetValue(kvDim) ?? (qwen05 ? 128 : h), parse.GetValue(intermediate) ?? (qwen05 ? 4864 : 4 * h));
            using var adapter = RandomAdapters.Create(shapes, r, parse.GetValue(alpha) ?? 2.0 * r, parse.GetValue(seed),
                CommandOptions.ParseDType(parse.GetValue(dtype)) ?? TorchSharp.torch.ScalarType.Float32, parse.GetValue(rsLora), baseModel: parse.GetValue(baseModel));
            string outDir = parse.GetValue(output)!;
            PeftAdapterDirectory.Write(adapter, outDir);
            parse.InvocationConfiguration.Output.WriteLine($"rank {r}: {adapter.Modules.Count} modules, {adapter.ParameterCount:N0} parameters -> {Path.GetFullPath(outDir)}");
            return FedCommandLine.ExitOk;
        });
        var adapters = new Command("adapters", "Work with adapter files: random, compress, download (alias: adapter)") { random, CreateCompress(), AdapterDownloadCommand.Create() };
        adapters.Aliases.Add("adapter");
        return adapters;
    }

    static Command CreateCompress()
    {
        var scheme = new Option<string>("--scheme")
        {
            Description = "int8 (per-row scales), topk (largest magnitudes) or ternary (ComPEFT: sign x one scale per tensor)",
            Required = true,
        };
        scheme.AcceptOnlyFromAmong([.. AdapterCompressors.SchemeNames]);
        var fraction = new Option<double>("--fraction") { Description = "topk, ternary: fraction of entries kept per tensor", DefaultValueFactory = _ => 0.1 };
        var stochastic = new Option<long?>("--stochastic-seed") { Description = "int8: unbiased stochastic rounding with this seed (default: round to nearest)" };
        var output = CommandOptions.Out($"File to write the compressed upload to (conventionally {CompressedAdapterFile.FileName})");
        var source = new Argument<string>("adapter-dir") { Description = "A PEFT adapter directory" };
        var compress = new Command("compress", "Compress an adapter for upload; fed aggregate and fed inspect read the result")
        {
            scheme, fraction, stochastic, output, source,
        };
        compress.SetAction(parse =>
        {
            using var adapter = PeftAdapterDirectory.Read(parse.GetValue(source)!);
            var compressor = AdapterCompressors.Create(parse.GetValue(scheme)!, parse.GetValue(fraction), parse.GetValue(stochastic));
            CompressedAdapter compressed;
            try { compressed = compressor.Compress(adapter); }
            finally { (compressor as IDisposable)?.Dispose(); }
            using var _ = compressed;
            string path = Path.GetFullPath(parse.GetValue(output)!);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            CompressedAdapterFile.Write(path, compressed);
            parse.InvocationConfiguration.Output.WriteLine(
                $"{parse.GetValue(scheme)}: {compressed.Stats.CompressedBytes:N0} of {compressed.Stats.Float32Bytes:N0} float32 bytes " +
                $"(ratio {compressed.Stats.Ratio:F3}) -> {path}");
            return FedCommandLine.ExitOk;
        });
        return compress;
    }
}
