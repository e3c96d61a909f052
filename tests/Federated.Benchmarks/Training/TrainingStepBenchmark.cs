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
    const int Batch = 8, Context = 128, Warmup = 5, Steps = 40, LoraRank = 16, Repetitions = 5;
    static readonly string[] AllLinear = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    /// <summary>The FLoRA paper's setup and PEFT's usual Llama default.</summary>
    static readonly string[] QueryValue = ["q_proj", "v_proj"];

    public static int Run()
    {
        Console.WriteLine($"batch {Batch} x {Context} tokens, {Steps} timed steps after {Warmup}, LoRA rank {LoraRank}; " +
            $"fp32 modes {Repetitions} times interleaved (medians; 'step vs full' is the median of each repetition's ratio), bf16 once");
        Console.WriteLine("| preset | mode | ms/step | tokens/s | peak RSS MB | step vs full | ratio range |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|");
        var fp32Modes = new[] { ("full", "full"), ("lora", "lora (all linear)"), ("lora-qv", "lora (q, v)") };
        var bf16Modes = new[] { ("lora-bf16", "lora (all linear), bf16 base"), ("lora-qv-bf16", "lora (q, v), bf16 base") };
        foreach (var preset in new[] { "tiny", "small" })
        {
            // Interleaved, so a slow spell of this shared 2-core VM hits every mode alike, and ratios come from neighbours.
            var runs = fp32Modes.ToDictionary(m => m.Item1, _ => new List<(double MsPerStep, double PeakMb)>());
            for (int r = 0; r < Repetitions; r++)
                foreach (var (mode, _) in fp32Modes)
                    runs[mode].Add(Measure(preset, mode));
            var full = runs["full"];
            foreach (var (mode, label) in fp32Modes)
            {
                var ratios = runs[mode].Select((m, r) => m.MsPerStep / full[r].MsPerStep).ToList();
                Row(preset, label, Statistics.Median(runs[mode].Select(m => m.MsPerStep)), runs[mode].Max(m => m.PeakMb), Statistics.Median(ratios), $"{ratios.Min():F2}-{ratios.Max():F2}");
            }
            double fullMs = Statistics.Median(full.Select(m => m.MsPerStep));
            foreach (var (mode, label) in bf16Modes)
            {
                var m = Measure(preset, mode);
                Row(preset, label, m.MsPerStep, m.PeakMb, m.MsPerStep / fullMs, "");
            }
        }
        return 0;
    }

    static void Row(string preset, string mode, double msPerStep, double peakMb, double vsFull, string range) =>
        Console.WriteLine(FormattableString.Invariant($"| {preset} | {mode} | {msPerStep:F1} | {Batch * Context * 1000.0 / msPerStep:N0} | {peakMb:N0} | {vsFull:F2} | {range} |"));


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
