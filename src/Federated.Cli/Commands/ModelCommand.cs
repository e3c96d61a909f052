using System.CommandLine;
using Federated.Core.Adapters;
using Federated.Core.Formats.Peft;
using Federated.Core.Runtime;
using Federated.Training.Data;
using Federated.Training.Data.Corpora;
using Federated.Training.Evaluation;
using Federated.Training.Lora;
using Federated.Training.Models;
using Federated.Training.Tokenization;
using Federated.Training.Training;
using TorchSharp;

namespace Federated.Cli.Commands;

/// <summary><c>fed model init | eval | pretrain | merge</c>: base models in the HF directory format.</summary>
static class ModelCommand
{
    const string LossTask = "loss";

    public static Command Create() => new("model", "Create, evaluate and pretrain base models (HF directory format)")
    {
        CreateInit(), CreateEval(), CreatePretrain(), CreateMerge(),
    };

    static Command CreateInit()
    {
        var preset = new Option<string>("--preset") { Description = "tiny (64 hidden, 2 layers) or small (256 hidden, 4 layers); byte-level vocabulary", DefaultValueFactory = _ => "tiny" };
        preset.AcceptOnlyFromAmong("tiny", "small");
        var seed = new Option<long>("--seed") { Description = "Initialisation seed", DefaultValueFactory = _ => 0 };
        var dtype = CommandOptions.DType("Dtype of the saved weights (default: float32)");
        var output = CommandOptions.Out("Model directory to create (config.json, model.safetensors, tokenizer.json)");
        var init = new Command("init", "Write a randomly initialised Llama-architecture checkpoint with its tokenizer") { preset, seed, dtype, output };
        init.SetAction(parse =>
        {
            string dir = parse.GetValue(output)!;
            using var model = LlamaForCausalLM.Create(LlamaConfig.Preset(parse.GetValue(preset)!), parse.GetValue(seed));
            HfCheckpoint.Save(model, dir, CommandOptions.ParseDType(parse.GetValue(dtype)) ?? TorchSharp.torch.ScalarType.Float32);
            ByteLevelTokenizer.Instance.Save(dir);
            long parameters = model.parameters().Sum(p => p.numel());
            parse.InvocationConfiguration.Output.WriteLine($"{parse.GetValue(preset)}: {parameters:N0} parameters -> {Path.GetFullPath(dir)}");
            return FedCommandLine.ExitOk;
        });
        return init;
    }

    static Command CreateEval()
    {
        var model = new Option<string>("--model") { Description = "Model directory", Required = true };
        var adapter = new Option<string?>("--adapter") { Description = "A PEFT adapter to apply on top of the base" };
        var task = new Option<string>("--task")
        {
            Description = "loss: mean next-token loss on --data; wordnet-mc: WordNet definition multiple choice on held-out synsets (accuracy with 95% Wilson intervals)",
            DefaultValueFactory = _ => LossTask,
        };
        task.AcceptOnlyFromAmong(LossTask, WordNetTask.Name);
        var data = new Option<string?>("--data")
        {
            Description = "loss: held-out .jsonl instruction data (answers scored) or plain text. wordnet-mc: optional held-out definition " +
                          "examples (.jsonl with a domain field, e.g. a partition's global-heldout.jsonl) instead of the simulator's split of --wordnet",
        };
        var context = ContextOption();
        var batch = BatchOption();
        var device = DeviceOption();
        var precision = PrecisionOption();
        var wordnet = new Option<string>("--wordnet") { Description = "wordnet-mc: WordNet data directory (Debian's wordnet-base)", DefaultValueFactory = _ => WordNetGlosses.DefaultDirectory };
        var domains = new Option<string[]>("--domains")
        {
            Description = "wordnet-mc: lexicographer domains to use, as in the experiment (e.g. noun.animal verb.motion); default all 45",
            AllowMultipleArgumentsPerToken = true,
        };
        var seed = new Option<int>("--seed") { Description = "wordnet-mc: the experiment's seed (it picks the held-out split) and the items' seed", DefaultValueFactory = _ => 1 };
        var items = new Option<int>("--items")
        {
            Description = "wordnet-mc: held-out synsets to sample (each gives one item per direction)",
            DefaultValueFactory = _ => WordNetTask.DefaultSynsets,
            Validators = { r => { if (r.GetValueOrDefault<int>() is < 1 or > WordNetTask.MaxSynsets) r.AddError($"--items must be between 1 and {WordNetTask.MaxSynsets}"); } },
        };
        var eval = new Command("eval", "Print the mean next-token loss and perplexity of a model (and adapter) on held-out data, or its WordNet multiple-choice accuracy")
        {
            model, adapter, task, data, context, batch, device, precision, wordnet, domains, seed, items,
        };
        eval.SetAction(parse =>
        {
            MklDispatch.UseAvx512OnAmd(); // MKL's fastest kernels, chosen before any tensor work
            if (parse.GetValue(task) == LossTask && parse.GetValue(data) is null)
            {
                parse.InvocationConfiguration.Error.WriteLine("fed: --data is required for --task loss (see 'fed model eval --help')");
                return FedCommandLine.ExitUsage;
            }
            string dir = parse.GetValue(model)!;
            var target = ComputeDevice.Select(parse.GetValue(device)!);
            var dtype = ComputePrecision.Select(parse.GetValue(precision)!, target);
            using var lm = HfCheckpoint.Load(dir, dtype);
            lm.to(target);
            var tokenizer = TokenizerLoader.Load(dir);
            if (parse.GetValue(adapter) is { } adapterDir)
            {
                using var lora = PeftAdapterDirectory.Read(adapterDir);
                LoraInjection.Import(lm, lora);
            }
            if (parse.GetValue(task) == WordNetTask.Name)
            {
                var heldOut = parse.GetValue(data) is { } file ? DomainJsonl.ReadFile(file)
                    : WordNetTask.HeldOut(parse.GetValue(wordnet)!, parse.GetValue(domains), parse.GetValue(seed));
                var scorer = new ModelContinuationScorer(lm, tokenizer, parse.GetValue(batch), ModelContinuationScorer.MaxTokens(lm));
                WordNetTask.Run(heldOut, scorer, parse.GetValue(seed), parse.GetValue(items), parse.InvocationConfiguration.Output);
                return FedCommandLine.ExitOk;
            }
            var examples = DatasetFiles.Load(parse.GetValue(data)!, tokenizer, parse.GetValue(context));
            var result = Evaluator.Evaluate(lm, TrainingBatcher.Batches(examples, parse.GetValue(batch), PadId(tokenizer), seed: null));
            parse.InvocationConfiguration.Output.WriteLine($"loss {result.MeanLoss:F4}  perplexity {result.Perplexity:F3}  ({result.Tokens:N0} tokens, {ComputePrecision.Name(dtype)})");
            return FedCommandLine.ExitOk;
        });
        return eval;
    }

    static Command CreatePretrain()
    {
        var model = new Option<string>("--model") { Description = "Model directory to start from", Required = true };
        var data = new Option<string>("--data") { Description = "Training data: plain text or .jsonl instruction data", Required = true };
        var steps = new Option<int>("--steps") { Description = "Optimiser steps", DefaultValueFactory = _ => 300 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (warm-up 5% of the steps, cosine decay to 10%)", DefaultValueFactory = _ => 3e-3 };
        var seed = new Option<int>("--seed") { Description = "Seed of the data order and dropout", DefaultValueFactory = _ => 0 };
        var context = ContextOption();
        var batch = BatchOption();
        var device = DeviceOption();
        var output = CommandOptions.Out("Model directory to write the trained model to");
        var pretrain = new Command("pretrain", "Train every weight of a base model on a corpus, so experiments start from a model that has learned something")
        {
            model, data, steps, lr, seed, context, batch, device, output,
        };
        pretrain.SetAction((parse, cancellation) =>
        {
            MklDispatch.UseAvx512OnAmd(); // MKL's fastest kernels, chosen before any tensor work
            string dir = parse.GetValue(model)!, outDir = parse.GetValue(output)!;
            var target = ComputeDevice.Select(parse.GetValue(device)!);
            using var lm = HfCheckpoint.Load(dir);
            lm.to(target);
            var tokenizer = TokenizerLoader.Load(dir);
            var examples = DatasetFiles.Load(parse.GetValue(data)!, tokenizer, parse.GetValue(context));
            int total = parse.GetValue(steps);
            var o = parse.InvocationConfiguration.Output;
            o.WriteLine($"training {lm.parameters().Sum(p => p.numel()):N0} parameters on {ComputeDevice.Describe(target)}, {examples.Count:N0} sequences");
            var summary = LocalTrainer.Train(lm, lm.parameters().ToList(),
                epoch => TrainingBatcher.Batches(examples, parse.GetValue(batch), PadId(tokenizer), parse.GetValue(seed) + epoch),
                new TrainerOptions
                {
                    MaxSteps = total, LearningRate = parse.GetValue(lr), WarmupSteps = Math.Max(1, total / 20), MinLearningRateRatio = 0.1,
                    Seed = parse.GetValue(seed),
                },
                new StepPrinter(o, Math.Max(1, total / 10)), cancellation);
            HfCheckpoint.Save(lm, outDir);
            CopyTokenizer(dir, outDir);
            o.WriteLine($"{summary.Steps} steps, loss {summary.FirstLoss:F3} -> {summary.LastLoss:F3}, {summary.TokensPerSecond:N0} tokens/s -> {Path.GetFullPath(outDir)}");
            return Task.FromResult(FedCommandLine.ExitOk);
        });
        return pretrain;
    }

    static Command CreateMerge()
    {
        var model = new Option<string>("--model") { Description = "Base model directory", Required = true };
        var adapters = new Option<string[]>("--adapter")
        {
            Description = "A PEFT adapter directory to merge in; repeat for several, e.g. a federation's exported history and a live adapter",
            Required = true,
        };
        var shardSize = new Option<string>("--max-shard-size")
        {
            Description = "Shard the weights above this size (HF's model-0000k-of-0000n.safetensors + index), e.g. 2GB, 500MB, 1GiB",
            DefaultValueFactory = _ => "2GB",
            Validators = { r => { if (!ByteSize.TryParse(r.GetValueOrDefault<string>(), out _)) r.AddError($"'{r.GetValueOrDefault<string>()}' is not a size (e.g. 2GB, 500MB, 1GiB or bytes)"); } },
        };
        var output = CommandOptions.Out("Directory to create with the merged checkpoint (config.json, weights, tokenizer files)");
        var merge = new Command("merge", "Merge adapters into a base model's weights and write a standalone HF checkpoint") { model, adapters, shardSize, output };
        merge.SetAction(parse =>
        {
            MklDispatch.UseAvx512OnAmd(); // MKL's fastest kernels, chosen before any tensor work
            var o = parse.InvocationConfiguration.Output;
            string dir = parse.GetValue(model)!, outDir = parse.GetValue(output)!;
            var loaded = new List<LoraAdapter>();
            try
            {
                foreach (var adapterDir in parse.GetValue(adapters)!)
                    loaded.Add(PeftAdapterDirectory.Read(adapterDir));
                var merged = CheckpointMerge.Write(dir, loaded, outDir, ByteSize.Parse(parse.GetValue(shardSize)!), o.WriteLine);
                o.WriteLine($"merged {loaded.Count} adapter(s), {merged.MergedModules} modules, into {merged.Parameters:N0} parameters ({AdapterDTypes.Name(merged.DType)}), " +
                    $"{merged.WeightFiles} weight file(s), {merged.WeightBytes / 1e6:N1} MB -> {merged.Directory}");
                return FedCommandLine.ExitOk;
            }
            finally
            {
                foreach (var a in loaded) a.Dispose();
            }
        });
        return merge;
    }

    static Option<string> DeviceOption() => new("--device") { Description = "auto (CUDA when this build has a GPU), cpu or cuda", DefaultValueFactory = _ => "auto" };

    static Option<string> PrecisionOption() => new("--precision")
    {
        Description = "Dtype of the base weights: auto (bf16 on CUDA, fp32 on the CPU), fp32 or bf16; adapters stay float32",
        DefaultValueFactory = _ => "auto",
    };

    static Option<int> ContextOption() => new("--context") { Description = "Sequence length in tokens", DefaultValueFactory = _ => 128 };
    static Option<int> BatchOption() => new("--batch") { Description = "Sequences per batch", DefaultValueFactory = _ => 8 };

    static int PadId(ITextTokenizer tokenizer) => tokenizer.PadId ?? tokenizer.EosId ?? 0;

    static void CopyTokenizer(string from, string to)
    {
        if (Path.GetFullPath(from) == Path.GetFullPath(to)) return;
        foreach (var name in new[] { TokenizerLoader.TokenizerJsonFileName, TokenizerLoader.SentencePieceFileName, TokenizerConfig.FileName })
            if (File.Exists(Path.Combine(from, name))) File.Copy(Path.Combine(from, name), Path.Combine(to, name), overwrite: true);
    }

    /// <summary>One line every <c>every</c> steps: long runs show progress without flooding the terminal.</summary>
    sealed class StepPrinter(TextWriter output, int every) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.Step % every == 0 || p.Step == p.TotalSteps)
                output.WriteLine($"  step {p.Step}/{p.TotalSteps}  loss {p.Loss:F3}  lr {p.LearningRate:G3}  {p.TokensPerSecond:N0} tokens/s");
        }
    }
}
