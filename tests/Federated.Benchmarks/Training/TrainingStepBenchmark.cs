using System.Diagnostics;
using Federated.Training.Data;
using Federated.Training.Lora;
using Federated.Training.Models;
using Federated.Training.Training;
using static TorchSharp.torch;

namespace Federated.Benchmarks.Training;

/// <summary>
/// Training step time and peak memory, LoRA against full fine-tuning of the same model and batch, and LoRA on a
/// bf16 base (the GPU's mixed precision, run on the CPU: same code, and the base's memory halved). Each
/// (preset, mode) runs in its own process, because libtorch's memory is native (invisible to
/// BenchmarkDotNet) and a process's peak resident set (VmHWM) only grows.
/// Run: deploy/benchmark.sh training   (or: training-worker PRESET MODE for one measurement)
/// </summary>
static class TrainingStepBenchmark
{
    const int Batch = 8, Context = 128, Warmup = 5, Steps = 40, LoraRank = 16;
    static readonly string[] AllLinear = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    /// <summary>The FLoRA paper's setup and PEFT's usual Llama default.</summary>
    static readonly string[] QueryValue = ["q_proj", "v_proj"];

    public static int Run()
    {
        var rows = new List<string>();
        Console.WriteLine($"batch {Batch} x {Context} tokens, {Steps} timed steps after {Warmup}, LoRA rank {LoraRank}");
        Console.WriteLine("| preset | mode | ms/step | tokens/s | peak RSS MB | step vs full |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|");
        foreach (var preset in new[] { "tiny", "small" })
        {
            var full = Measure(preset, "full");
            var lora = Measure(preset, "lora");
            var loraQv = Measure(preset, "lora-qv");
            var loraBf16 = Measure(preset, "lora-bf16");
            var loraQvBf16 = Measure(preset, "lora-qv-bf16");
            foreach (var (mode, m) in new[] { ("full", full), ("lora (all linear)", lora), ("lora (q, v)", loraQv),
                         ("lora (all linear), bf16 base", loraBf16), ("lora (q, v), bf16 base", loraQvBf16) })
                Console.WriteLine($"| {preset} | {mode} | {m.MsPerStep:F1} | {Batch * Context * 1000.0 / m.MsPerStep:N0} | {m.PeakMb:N0} | {m.MsPerStep / full.MsPerStep:F2} |");
        }
        return 0;
    }

    static (double MsPerStep, double PeakMb) Measure(string preset, string mode)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!, [typeof(TrainingStepBenchmark).Assembly.Location, "training-worker", preset, mode])
        {
            RedirectStandardOutput = true,
        };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) != "dotnet") psi.ArgumentList.RemoveAt(0);
        using var process = Process.Start(psi)!;
        string output = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        var parts = output.Split(' ');
        if (process.ExitCode != 0 || parts.Length != 2) throw new InvalidOperationException($"worker {preset} {mode} failed: {output}");
        return (double.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>One measurement: prints "ms-per-step peak-MB".</summary>
    public static int Worker(string preset, string mode)
    {
        set_num_threads(Environment.ProcessorCount);
        var dtype = mode.EndsWith("-bf16", StringComparison.Ordinal) ? ScalarType.BFloat16 : ScalarType.Float32;
        using var model = LlamaForCausalLM.Create(LlamaConfig.Preset(preset), seed: 1, dtype);
        IReadOnlyList<TorchSharp.Modules.Parameter> parameters;
        if (mode.StartsWith("lora", StringComparison.Ordinal))
        {
            LoraInjection.Inject(model, mode.StartsWith("lora-qv", StringComparison.Ordinal) ? QueryValue : AllLinear, LoraRank, 2 * LoraRank, seed: 2);
            parameters = LoraInjection.TrainableParameters(model);
        }
        else parameters = model.parameters().ToList();

        var generator = new Random(3);
        var examples = Enumerable.Range(0, Batch).Select(_ => TrainingExample.Unmasked(
            Enumerable.Range(0, Context).Select(_ => generator.Next(256)).ToArray())).ToList();
        IEnumerable<TrainingBatch> Batches(int epoch) => TrainingBatcher.Batches(examples, Batch, 258, seed: null);

        LocalTrainer.Train(model, parameters, Batches, new TrainerOptions { MaxSteps = Warmup });
        var clock = Stopwatch.StartNew();
        LocalTrainer.Train(model, parameters, Batches, new TrainerOptions { MaxSteps = Steps });
        double ms = clock.Elapsed.TotalMilliseconds / Steps;
        double peakMb = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1] is var kb ? double.Parse(kb) / 1024 : 0;
        Console.WriteLine(FormattableString.Invariant($"{ms:F2} {peakMb:F1}"));
        return 0;
    }
}
