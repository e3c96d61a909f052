using System.Text;

namespace Federated.Core.Formats;

/// <summary>Orders strings by their UTF-8 bytes, as Rust's <c>String</c> ordering (and so the official writer) does.</summary>
sealed class Utf8Order : IComparer<string>
{
    public static readonly Utf8Order Instance = new();

    public int Compare(string? x, string? y) =>
        Encoding.UTF8.GetBytes(x ?? "").AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(y ?? ""));
}
