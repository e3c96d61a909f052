using Federated.Cli;
using Federated.Training.Models;

namespace Federated.Cli.Tests;

public sealed class ModelCommandTests : IDisposable
{
    const string Corpus = "/usr/share/common-licenses/GPL-3";
    readonly string _dir = Directory.CreateTempSubdirectory("fed-model-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static (int Exit, string Out, string Err) Fed(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        return (FedCommandLine.Run(args, output, error), output.ToString(), error.ToString());
    }

    [Fact]
    public void A_checkpoint_written_by_model_init_loads_back_bit_identically()
    {
        string dir = Path.Combine(_dir, "tiny");
        var r = Fed("model", "init", "--preset", "tiny", "--seed", "5", "--out", dir);
        Assert.True(r.Exit == 0, r.Err);
        Assert.True(File.Exists(Path.Combine(dir, "tokenizer.json")));

        using var expected = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 5);
        using var loaded = HfCheckpoint.Load(dir);
        var parameters = loaded.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in expected.named_parameters())
            Assert.True(p.bytes.SequenceEqual(parameters[name].bytes), name);
    }

    [Fact]
    public void Pretraining_lowers_the_loss_that_eval_reports()
    {
        string dir = Path.Combine(_dir, "tiny"), trained = Path.Combine(_dir, "trained");
        Assert.Equal(0, Fed("model", "init", "--out", dir).Exit);
        double Loss(string model)
        {
            var r = Fed("model", "eval", "--model", model, "--data", Corpus, "--context", "64");
            Assert.True(r.Exit == 0, r.Err);
            return double.Parse(r.Out.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        double before = Loss(dir);
        var pretrain = Fed("model", "pretrain", "--model", dir, "--data", Corpus, "--steps", "60", "--context", "64", "--out", trained);
        Assert.True(pretrain.Exit == 0, pretrain.Err);
        Assert.Contains("step 60/60", pretrain.Out);
        Assert.True(Loss(trained) < before - 1.0, $"{before} -> {Loss(trained)}");
    }

    [Fact]
    public void Eval_with_a_bf16_base_reports_the_fp32_loss_within_bf16_rounding()
    {
        string dir = Path.Combine(_dir, "tiny");
        Assert.Equal(0, Fed("model", "init", "--out", dir).Exit);
        (double Loss, string Out) Eval(string precision)
        {
            var r = Fed("model", "eval", "--model", dir, "--data", Corpus, "--context", "64", "--precision", precision);
            Assert.True(r.Exit == 0, r.Err);
            return (double.Parse(r.Out.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture), r.Out);
        }
        var (fp32, bf16) = (Eval("fp32"), Eval("bf16"));
        Assert.Contains("bf16)", bf16.Out);
        if (!TorchSharp.torch.cuda.is_available())
        {
            var auto = Eval("auto"); // auto is fp32 on the CPU
            Assert.Contains("fp32)", auto.Out);
            Assert.Equal(fp32.Loss, auto.Loss);
        }
        Assert.True(Math.Abs(bf16.Loss - fp32.Loss) < 1e-2, $"fp32 {fp32.Loss}, bf16 {bf16.Loss}");
    }

    [Fact]
    public void An_unknown_precision_is_one_readable_line()
    {
        string dir = Path.Combine(_dir, "tiny");
        Assert.Equal(0, Fed("model", "init", "--out", dir).Exit);
        var r = Fed("model", "eval", "--model", dir, "--data", Corpus, "--precision", "fp16");
        Assert.Equal(FedCommandLine.ExitFailure, r.Exit);
        Assert.Equal("fed: error: unknown precision 'fp16' (expected auto, fp32 or bf16)", Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries)).Trim());
    }

    [Fact]
    public void A_missing_data_file_is_one_readable_line()
    {
        string dir = Path.Combine(_dir, "tiny");
        Assert.Equal(0, Fed("model", "init", "--out", dir).Exit);
        var r = Fed("model", "eval", "--model", dir, "--data", Path.Combine(_dir, "nope.txt"));
        Assert.Equal(FedCommandLine.ExitFailure, r.Exit);
        Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("nope.txt: the data file does not exist", r.Err);
    }

    [Fact]
    public void A_missing_model_directory_is_one_readable_line()
    {
        var r = Fed("model", "eval", "--model", Path.Combine(_dir, "none"), "--data", Corpus);
        Assert.Equal(FedCommandLine.ExitFailure, r.Exit);
        Assert.Contains("does not exist", r.Err);
    }
}
