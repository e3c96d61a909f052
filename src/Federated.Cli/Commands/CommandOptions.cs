using System.CommandLine;
using Federated.Core.Adapters;
using static TorchSharp.torch;

namespace Federated.Cli.Commands;

/// <summary>Options more than one command takes.</summary>
static class CommandOptions
{
    public static Option<string> Out(string description) => new("--out", "-o") { Description = description, Required = true };

    public static Option<string?> DType(string description) => new("--dtype")
    {
        Description = description + " (float32, float16 or bfloat16)",
        Validators = { r => { var v = r.GetValueOrDefault<string?>(); if (v is not null && !IsDType(v)) r.AddError($"unknown dtype '{v}' (expected float32, float16 or bfloat16)"); } },
    };

    public static ScalarType? ParseDType(string? name) => name is null ? null : AdapterDTypes.Parse(name);

    static bool IsDType(string name)
    {
        try { AdapterDTypes.Parse(name); return true; }
        catch (ArgumentException) { return false; }
    }
}
