package main

import (
	"errors"
	"math"
)

// Within a family and region, clouds that price per resource (GCP) charge
// price = cpuRate·vCPUs + ramRate·GiB + gpuRate·GPUs for every size. A linearFit holds
// the rates that published sizes determine; features that are a fixed multiple of the
// vCPUs across every size involved are folded into the vCPU rate, because published
// prices cannot tell them apart.
type linearFit struct {
	useRAM, useGPU bool
	rates          []float64 // cpu, then ram and gpu when used
}

// fitRow is one machine type: its billed resources and its published price.
type fitRow struct {
	cpu, ram, gpu float64
	price         float64
}

// fixedRatio reports whether f(row) / cpu is the same for every row.
func fixedRatio(rows []fitRow, f func(fitRow) float64) bool {
	r := f(rows[0]) / rows[0].cpu
	for _, x := range rows[1:] {
		if math.Abs(f(x)/x.cpu-r) > 1e-9*math.Max(1, math.Abs(r)) {
			return false
		}
	}
	return true
}

func (l *linearFit) features(x fitRow) []float64 {
	v := []float64{x.cpu}
	if l.useRAM {
		v = append(v, x.ram)
	}
	if l.useGPU {
		v = append(v, x.gpu)
	}
	return v
}

// fit solves the rates by least squares over the published rows. all are every row
// the fit must be able to price (published and to be derived): they decide which
// features are independent.
func fit(published, all []fitRow) (*linearFit, error) {
	if len(published) == 0 {
		return nil, errors.New("no published sizes")
	}
	l := &linearFit{
		useRAM: !fixedRatio(all, func(x fitRow) float64 { return x.ram }),
		useGPU: !fixedRatio(all, func(x fitRow) float64 { return x.gpu }),
	}
	n := 1
	if l.useRAM {
		n++
	}
	if l.useGPU {
		n++
	}
	// Normal equations A·r = b with A = XᵀX, b = Xᵀy.
	a := make([][]float64, n)
	for i := range a {
		a[i] = make([]float64, n+1)
	}
	for _, x := range published {
		v := l.features(x)
		for i := range n {
			for j := range n {
				a[i][j] += v[i] * v[j]
			}
			a[i][n] += v[i] * x.price
		}
	}
	// Gauss-Jordan elimination with partial pivoting.
	for col := range n {
		p := col
		for r := col + 1; r < n; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[p][col]) {
				p = r
			}
		}
		if math.Abs(a[p][col]) < 1e-12 {
			return nil, errors.New("the published sizes do not determine the per-resource rates")
		}
		a[col], a[p] = a[p], a[col]
		for r := range n {
			if r == col {
				continue
			}
			f := a[r][col] / a[col][col]
			for c := col; c <= n; c++ {
				a[r][c] -= f * a[col][c]
			}
		}
	}
	l.rates = make([]float64, n)
	for i := range n {
		l.rates[i] = a[i][n] / a[i][i]
	}
	return l, nil
}

// price is the fitted price of a row, rounded to the source's nine decimals.
func (l *linearFit) price(x fitRow) float64 {
	s := 0.0
	for i, v := range l.features(x) {
		s += l.rates[i] * v
	}
	return math.Round(s*1e9) / 1e9
}

// agrees reports whether a published price matches the fit (to a millionth, relative).
func agrees(fitted, published float64) bool {
	return math.Abs(fitted-published) <= 1e-6*math.Abs(published)+1e-9
}
